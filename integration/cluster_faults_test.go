package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vfs-project/vfs/ctl/ctltest"
)

// startMembers starts n members of cluster web, n1 to nN, with 2 s leases,
// and returns them with their peer addresses.
func startMembers(t *testing.T, etcd string, n int) ([]*daemon, []string) {
	var nodes []*daemon
	var peers []string
	for i := 1; i <= n; i++ {
		peers = append(peers, freeAddr(t))
		nodes = append(nodes, startDaemon(t, "--cluster", "web", "--node", fmt.Sprintf("n%d", i), "--etcd", etcd, "--peer-listen", peers[i-1], "--cluster-lease", "2s"))
	}
	return nodes, peers
}

// corruptingProxy forwards to the peer listener at target and flips a byte
// in every object it returns, as a damaged network path or a lying peer
// would. It returns its address.
func corruptingProxy(t *testing.T, target string) string {
	u, _ := url.Parse("http://" + target)
	p := httputil.NewSingleHostReverseProxy(u)
	p.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasPrefix(resp.Request.URL.Path, "/v1/objects/") || resp.StatusCode != 200 {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if len(b) > 0 {
			b[len(b)-1] ^= 0x55
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Del("Content-Length")
		return nil
	}
	return ctltest.ServePeer(t, p)
}

// metric reads one counter from a vfsd's /metrics.
func metric(t *testing.T, addr, name string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// An origin whose objects arrive corrupted (its advertised peer address is
// a proxy that flips bytes): a member that pulls from it rejects them,
// records nothing of them, counts the rejection, and stages from another
// member that holds the release. The activation completes.
func TestClusterCorruptSource(t *testing.T) {
	etcd, _ := startEtcd(t)
	peer1 := freeAddr(t)
	bad := corruptingProxy(t, peer1)
	n1 := startDaemon(t, "--cluster", "web", "--node", "n1", "--etcd", etcd, "--peer-listen", peer1, "--peer-advertise", bad, "--cluster-lease", "2s")
	n2 := startDaemon(t, "--cluster", "web", "--node", "n2", "--etcd", etcd, "--peer-listen", freeAddr(t), "--cluster-lease", "2s")
	metrics3 := freeAddr(t)
	n3 := startDaemon(t, "--cluster", "web", "--node", "n3", "--etcd", etcd, "--peer-listen", freeAddr(t), "--cluster-lease", "2s", "--metrics-listen", metrics3)
	v1 := n1.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("<h1>v1</h1>"), "assets/app-5e6f7a8b.js": noise(300 << 10)}))
	// n2 holds the release already, fetched straight from n1.
	n2.ctl(t, "-q", "snapshot", "pull", peer1, v1)
	out := n1.ctl(t, "--json", "activate", v1, "--cluster", "--wait", "60s")
	var res struct {
		Committed bool     `json:"committed"`
		Missing   []string `json:"missing"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || !res.Committed || len(res.Missing) != 0 {
		t.Fatalf("activation with a corrupting origin: %v %s\nn3:\n%s", err, out, n3.log)
	}
	if !strings.Contains(n3.log.String(), "cluster: rejected what a source sent") {
		t.Errorf("n3 did not reject the corrupted objects:\n%s", n3.log)
	}
	if v := metric(t, metrics3, "vfs_cluster_pull_rejected_total"); v == "" || v == "0" {
		t.Errorf("vfs_cluster_pull_rejected_total = %q on n3", v)
	}
	// Applied everywhere: n3 is ready, hears from etcd, and finds etcd
	// neither behind nor unreadable.
	for name, want := range map[string]string{"vfs_cluster_ready": "1", "vfs_cluster_etcd_unreachable": "0",
		"vfs_cluster_etcd_behind_refs": "0", "vfs_cluster_unreadable_values": "0"} {
		if v := metric(t, metrics3, name); v != want {
			t.Errorf("%s = %q on n3, want %s", name, v, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(n3.mnt, "current", "index.html")); err != nil || string(b) != "<h1>v1</h1>" {
		t.Errorf("n3 serves %q %v", b, err)
	}
	if out := n3.ctl(t, "verify"); strings.Contains(out, "DAMAGED") {
		t.Errorf("verify on n3: %s", out)
	}
}

// A node stopped (SIGSTOP) while a release goes out: the activation
// completes without it once its lease lapses. Continued (SIGCONT), it is
// never ready while it serves the old release, and becomes ready serving
// the new one.
func TestClusterNodeStopped(t *testing.T) {
	etcd, _ := startEtcd(t)
	nodes, peers := startMembers(t, etcd, 3)
	origin, victim := nodes[0], nodes[2]
	v1 := origin.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("one")}))
	origin.ctl(t, "-q", "activate", v1, "--cluster", "--wait", "60s")
	if err := victim.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			victim.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	v2 := origin.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("two")}))
	start := time.Now()
	out, stderr, err := origin.try("--json", "activate", v2, "--cluster", "--wait", "60s")
	t.Logf("with a node stopped, the release went out on the others in %s (lease 2 s)", time.Since(start).Round(time.Millisecond))
	var res struct {
		Committed bool     `json:"committed"`
		Members   []string `json:"members"`
		Missing   []string `json:"missing"`
		Left      []string `json:"left"`
	}
	json.Unmarshal([]byte(out), &res)
	// Exit 1, naming the stopped node: it served the release before, and
	// still serves it.
	if err == nil || !res.Committed || len(res.Members) != 2 || len(res.Missing) != 0 || len(res.Left) != 1 || res.Left[0] != "n3" {
		t.Fatalf("activation with a stopped node: %v %s %s", err, out, stderr)
	}
	victim.cmd.Process.Signal(syscall.SIGCONT)
	stopped = false
	continued := time.Now()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body := ready(t, peers[2])
		if status == 200 {
			t.Logf("the stopped node, continued, was ready serving the release %s later", time.Since(continued).Round(time.Millisecond))
			b, err := os.ReadFile(filepath.Join(victim.mnt, "current", "index.html"))
			if err != nil || string(b) != "two" {
				t.Fatalf("the continued node said ready while serving %q %v", b, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the continued node never became ready (%d %s):\n%s", status, body, victim.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out := victim.ctl(t, "verify"); strings.Contains(out, "DAMAGED") {
		t.Errorf("verify on the continued node: %s", out)
	}
}

// A member that holds releases up is evicted: the release goes out without
// it, and it is not ready, saying why, while it keeps serving what it had.
// Admitted again, it catches up by itself and is ready.
func TestClusterEvictAndAdmit(t *testing.T) {
	etcd, _ := startEtcd(t)
	nodes, peers := startMembers(t, etcd, 3)
	origin, slow := nodes[0], nodes[2]
	v1 := origin.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("one")}))
	origin.ctl(t, "-q", "activate", v1, "--cluster", "--wait", "60s")
	if _, stderr, err := origin.try("cluster", "evict", "n1"); err == nil || !strings.Contains(stderr, "cannot evict itself") {
		t.Errorf("a node evicting itself: %v %s", err, stderr)
	}
	origin.ctl(t, "cluster", "evict", "n3", "--reason", "holds releases up")
	var st struct {
		Members map[string]string `json:"members"`
		Evicted map[string]struct {
			By     string `json:"by"`
			Reason string `json:"reason"`
		} `json:"evicted"`
	}
	json.Unmarshal([]byte(nodes[1].ctl(t, "--json", "cluster", "status")), &st)
	if _, in := st.Members["n3"]; in || st.Evicted["n3"].By != "n1" || st.Evicted["n3"].Reason != "holds releases up" {
		t.Errorf("cluster status after evicting n3: %+v", st)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body := ready(t, peers[2])
		if status == 503 && strings.Contains(body, "evicted by n1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the evicted node: %d %s", status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	v2 := origin.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("two")}))
	out := origin.ctl(t, "--json", "activate", v2, "--cluster", "--wait", "60s")
	var res struct {
		Committed bool     `json:"committed"`
		Members   []string `json:"members"`
	}
	json.Unmarshal([]byte(out), &res)
	if !res.Committed || len(res.Members) != 2 {
		t.Fatalf("activation after the eviction: %s", out)
	}
	time.Sleep(2500 * time.Millisecond) // more than a reconcile period
	if b, _ := os.ReadFile(filepath.Join(slow.mnt, "current", "index.html")); string(b) != "one" {
		t.Errorf("the evicted node serves %q; it keeps what it had", b)
	}
	if _, stderr, err := origin.try("cluster", "admit", "n2"); err == nil || !strings.Contains(stderr, "not evicted") {
		t.Errorf("admitting a node that was not evicted: %v %s", err, stderr)
	}
	origin.ctl(t, "cluster", "admit", "n3")
	deadline = time.Now().Add(30 * time.Second)
	for {
		status, body := ready(t, peers[2])
		if status == 200 {
			if b, _ := os.ReadFile(filepath.Join(slow.mnt, "current", "index.html")); string(b) != "two" {
				t.Fatalf("the admitted node is ready serving %q", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admitted node never became ready: %d %s\n%s", status, body, slow.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An empty node that joins after two releases serves the committed one and,
// like the nodes that served the one before, that one's assets: a page
// loaded from another node just before the flip finds them here too.
func TestClusterLateJoinerCarriesOver(t *testing.T) {
	etcd, _ := startEtcd(t)
	origin := startDaemon(t, "--cluster", "web", "--node", "n1", "--etcd", etcd, "--peer-listen", freeAddr(t), "--cluster-lease", "2s")
	v1 := origin.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("one"), "assets/app-11111111.js": []byte("app one")}))
	origin.ctl(t, "-q", "activate", v1, "--cluster", "--wait", "60s")
	v2 := origin.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("two"), "assets/app-22222222.js": []byte("app two")}))
	origin.ctl(t, "-q", "activate", v2, "--cluster", "--wait", "60s")
	peer := freeAddr(t)
	late := startDaemon(t, "--cluster", "web", "--node", "n2", "--etcd", etcd, "--peer-listen", peer, "--cluster-lease", "2s")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if status, _ := ready(t, peer); status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the late node never became ready:\n%s", late.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for p, want := range map[string]string{"index.html": "two", "assets/app-22222222.js": "app two", "assets/app-11111111.js": "app one"} {
		if b, err := os.ReadFile(filepath.Join(late.mnt, "current", p)); err != nil || string(b) != want {
			t.Errorf("the late node: current/%s = %q %v, want %q", p, b, err, want)
		}
	}
}
