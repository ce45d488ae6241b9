package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The fleet keeps its promise under its own mechanisms, with real vfsd
// processes: a slow hook on every node never takes every node out of the
// load balancer at once; an aborted first release (a member stopped with
// SIGSTOP) is followed by a release that reaches every node; a node-local
// activation of the cluster's ref is refused, and with --local the node
// answers 503 (drift) until the next release.
func TestClusterKeepsItsPromise(t *testing.T) {
	etcd, _ := startEtcd(t)
	var nodes []*daemon
	var peers []string
	for i := 1; i <= 3; i++ {
		peers = append(peers, freeAddr(t))
		nodes = append(nodes, startDaemon(t, "--cluster", "web", "--node", fmt.Sprintf("n%d", i), "--etcd", etcd, "--peer-listen", peers[i-1],
			"--cluster-lease", "2s", "--hook", "sleep 3"))
	}
	origin := nodes[0]
	page := func(n *daemon) string {
		b, _ := os.ReadFile(filepath.Join(n.mnt, "current", "index.html"))
		return string(b)
	}
	v1 := origin.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("one")}))
	origin.ctl(t, "-q", "activate", v1, "--cluster", "--wait", "60s")
	for _, p := range peers {
		waitStatus(t, p, 200, "")
	}

	// Readiness sampled on all three every 100 ms during a release.
	var mu sync.Mutex
	samples, allOut := 0, 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			out := 0
			for _, p := range peers {
				if status, _ := ready(t, p); status != 200 {
					out++
				}
			}
			mu.Lock()
			samples++
			if out == len(peers) {
				allOut++
			}
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	v2 := origin.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("two")}))
	origin.ctl(t, "-q", "activate", v2, "--cluster", "--wait", "60s")
	time.Sleep(4 * time.Second) // the hooks' 3 s, and more
	close(stop)
	wg.Wait()
	t.Logf("readiness: %d samples of 3 nodes during a release with a 3 s hook on each, %d with every node unready", samples, allOut)
	if allOut > 0 {
		t.Errorf("%d of %d samples found every node unready", allOut, samples)
	}
	for i, n := range nodes {
		if got := page(n); got != "two" {
			t.Errorf("n%d serves %q", i+1, got)
		}
	}

	// The first release of a ref, aborted while a member is stopped, then
	// another release of it: every node serves it, all ready.
	victim := nodes[2]
	if err := victim.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	p1 := origin.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("preview one")}))
	_, stderr, err := origin.try("activate", p1, "--cluster", "--ref", "preview", "--wait", "1s", "--abort")
	victim.cmd.Process.Signal(syscall.SIGCONT)
	if err == nil || !strings.Contains(stderr, "aborted") {
		t.Fatalf("a release held by a stopped member, aborted: %v %s", err, stderr)
	}
	p2 := origin.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("preview two")}))
	out := origin.ctl(t, "activate", p2, "--cluster", "--ref", "preview", "--wait", "60s")
	t.Logf("after the abort: %s", strings.TrimSpace(out))
	for i, n := range nodes {
		refs := n.ctl(t, "--json", "status")
		if !strings.Contains(refs, p2) {
			t.Errorf("n%d does not serve the release after the abort: %s", i+1, refs)
		}
		waitStatus(t, peers[i], 200, "")
	}

	// A node-local move of the cluster's ref: refused, saying how.
	n2 := nodes[1]
	_, stderr, err = n2.try("rollback")
	if err == nil || !strings.Contains(stderr, "--cluster") || !strings.Contains(stderr, "--local") {
		t.Errorf("a rollback on one member: %v %s", err, stderr)
	}
	if got := page(n2); got != "two" {
		t.Errorf("after a refused rollback n2 serves %q", got)
	}
	n2.ctl(t, "-q", "rollback", "--local", "--reason", "a deliberate exception")
	start := time.Now()
	body := waitStatus(t, peers[1], 503, "drift")
	t.Logf("n2 answered 503 %s after the --local rollback: %s", time.Since(start).Round(time.Millisecond), body)
	if st := origin.ctl(t, "cluster", "status"); !strings.Contains(st, "drift") {
		t.Errorf("cluster status does not show the drift:\n%s", st)
	}
	v3 := origin.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("three")}))
	origin.ctl(t, "-q", "activate", v3, "--cluster", "--wait", "60s")
	for i, n := range nodes {
		waitStatus(t, peers[i], 200, "")
		if got := page(n); got != "three" {
			t.Errorf("n%d serves %q after the next release", i+1, got)
		}
	}
	// Who asked travels to every node's log.
	if log := n2.ctl(t, "log"); !strings.Contains(log, "cluster web generation") {
		t.Errorf("n2's log:\n%s", log)
	}
}
