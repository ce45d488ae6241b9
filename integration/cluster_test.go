package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// startEtcd runs an embedded etcd on loopback and returns its client URL.
func startEtcd(t testing.TB) (string, *embed.Etcd) {
	t.Helper()
	cfg := etcdConfig(t)
	return cfg.ListenClientUrls[0].String(), runEtcd(t, cfg)
}

// etcdConfig is an embedded etcd's configuration on free loopback ports.
func etcdConfig(t testing.TB) *embed.Config {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	cfg.LogLevel = "fatal" // its closing complaints are not the test's
	port := func() url.URL {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		u, _ := url.Parse("http://" + l.Addr().String())
		return *u
	}
	client, peer := port(), port()
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	return cfg
}

// runEtcd starts etcd with cfg (again, after a Close: its data stays in
// cfg.Dir) and stops it when the test ends.
func runEtcd(t testing.TB, cfg *embed.Config) *embed.Etcd {
	t.Helper()
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-e.Server.StopNotify():
		default:
			e.Close()
		}
	})
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(20 * time.Second):
		t.Fatal("etcd did not start")
	}
	return e
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// listing is every file below dir with its size and mtime, one per line.
func listing(t *testing.T, dir string) string {
	var lines []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		lines = append(lines, fmt.Sprintf("%s %d %d", rel, fi.Size(), fi.ModTime().Unix()))
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// Three nodes with their own stores: a snapshot imported on one and
// activated with --cluster is served by every node, with identical files,
// sizes and mtimes; a second release switches them all again, pulling
// only what changed.
func TestClusterActivation(t *testing.T) {
	etcd, _ := startEtcd(t)
	var nodes []*daemon
	var peers []string
	for i := 1; i <= 3; i++ {
		peers = append(peers, freeAddr(t))
		nodes = append(nodes, startDaemon(t, "--cluster", "web", "--node", fmt.Sprintf("n%d", i), "--etcd", etcd, "--peer-listen", peers[i-1], "--cluster-lease", "2s"))
	}
	origin := nodes[0]
	site := writeSite(t, map[string][]byte{"index.html": []byte("<h1>v1</h1>"), "assets/app-1a2b3c4d.js": noise(1 << 20)})
	v1 := origin.importDir(t, site)
	out := origin.ctl(t, "--json", "activate", v1, "--cluster", "--wait", "60s", "--reason", "release 1")
	var res struct {
		Gen       int      `json:"gen"`
		Committed bool     `json:"committed"`
		Members   []string `json:"members"`
		Missing   []string `json:"missing"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || !res.Committed || len(res.Members) != 3 || len(res.Missing) != 0 || res.Gen != 1 {
		t.Fatalf("cluster activation: %v %s", err, out)
	}
	want := listing(t, filepath.Join(origin.mnt, "current"))
	for _, n := range nodes {
		if got := listing(t, filepath.Join(n.mnt, "current")); got != want || !strings.Contains(got, "index.html") {
			t.Errorf("a node serves:\n%s\nwant:\n%s", got, want)
		}
	}
	// Release 2 changes the page only.
	os.WriteFile(filepath.Join(site, "index.html"), []byte("<h1>v2</h1>"), 0o644)
	v2 := origin.importDir(t, site)
	origin.ctl(t, "-q", "activate", v2, "--cluster", "--wait", "60s")
	for _, n := range nodes {
		if b, err := os.ReadFile(filepath.Join(n.mnt, "current", "index.html")); err != nil || string(b) != "<h1>v2</h1>" {
			t.Errorf("after release 2 a node serves %q %v", b, err)
		}
	}
	var st struct {
		Committed map[string]int            `json:"committed"`
		Applied   map[string]map[string]int `json:"applied"`
	}
	json.Unmarshal([]byte(nodes[2].ctl(t, "--json", "cluster", "status")), &st)
	if st.Committed["current"] != 2 || st.Applied["n3"]["current"] != 2 {
		t.Errorf("cluster status: %+v", st)
	}
	if !strings.Contains(nodes[1].log.String(), "cluster: pulled") {
		t.Errorf("node 2 did not pull:\n%s", nodes[1].log)
	}
	for i, p := range peers {
		if status, body := ready(t, p); status != 200 {
			t.Errorf("node %d not ready: %d %s", i+1, status, body)
		}
	}
	// Two activations at once: exactly one wins, and every node serves
	// its snapshot.
	os.WriteFile(filepath.Join(site, "index.html"), []byte("<h1>v3</h1>"), 0o644)
	v3 := origin.importDir(t, site)
	errs := make(chan error, 2)
	for _, id := range []string{v1, v3} {
		go func() {
			_, _, err := origin.try("-q", "activate", id, "--cluster", "--wait", "60s")
			errs <- err
		}()
	}
	e1, e2 := <-errs, <-errs
	if (e1 == nil) == (e2 == nil) {
		t.Fatalf("racing activations: %v and %v; want exactly one to win", e1, e2)
	}
	want = listing(t, filepath.Join(origin.mnt, "current"))
	deadline0 := time.Now().Add(30 * time.Second)
	for _, n := range nodes {
		for listing(t, filepath.Join(n.mnt, "current")) != want && time.Now().Before(deadline0) {
			time.Sleep(100 * time.Millisecond)
		}
		if got := listing(t, filepath.Join(n.mnt, "current")); got != want {
			t.Errorf("after the race a node serves:\n%s\nwant:\n%s", got, want)
		}
	}
	// Rollback across the cluster copies nothing: the snapshot is on
	// every node already.
	pulls := strings.Count(nodes[2].log.String(), "cluster: pulled")
	before := listing(t, filepath.Join(origin.mnt, "current"))
	origin.ctl(t, "-q", "rollback", "--cluster", "--wait", "60s")
	after := listing(t, filepath.Join(origin.mnt, "current"))
	if after == before {
		t.Errorf("rollback --cluster changed nothing")
	}
	for _, n := range nodes {
		if got := listing(t, filepath.Join(n.mnt, "current")); got != after {
			t.Errorf("after rollback --cluster a node serves:\n%s", got)
		}
	}
	if got := strings.Count(nodes[2].log.String(), "cluster: pulled"); got != pulls {
		t.Errorf("rollback --cluster pulled something (%d pulls, was %d)", got, pulls)
	}
	// The cluster's history: every committed generation, chained by
	// hash, in increasing order; an entry edited in etcd afterwards
	// breaks the chain. The loser of the race may have used up a
	// generation (seen: 1, 2, 4, 5), so only the order is promised.
	var hist struct {
		Entries []struct {
			Gen    int    `json:"gen"`
			Reason string `json:"reason"`
		} `json:"entries"`
		Problem string `json:"problem"`
	}
	json.Unmarshal([]byte(nodes[1].ctl(t, "--json", "cluster", "log")), &hist)
	if len(hist.Entries) != 4 || hist.Entries[0].Gen != 1 || hist.Entries[0].Reason != "release 1" || hist.Problem != "" {
		t.Fatalf("cluster log: %+v", hist)
	}
	for i := 1; i < len(hist.Entries); i++ {
		if hist.Entries[i].Gen <= hist.Entries[i-1].Gen {
			t.Errorf("cluster log out of order: %+v", hist.Entries)
		}
	}
	second := hist.Entries[1].Gen
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	key := fmt.Sprintf("/vfs/web/history/current/%020d", second)
	got, err := cli.Get(context.Background(), key)
	if err != nil || len(got.Kvs) != 1 {
		t.Fatalf("history entry %d: %v %v", second, got, err)
	}
	cli.Put(context.Background(), key, strings.Replace(string(got.Kvs[0].Value), `"reason":""`, `"reason":"rewritten"`, 1))
	if _, stderr, err := nodes[1].try("cluster", "log"); err == nil || !strings.Contains(stderr, fmt.Sprintf("generation %d does not match its hash", second)) {
		t.Errorf("cluster log of an edited history: %v %s", err, stderr)
	}
	// An empty node joining late catches up to the committed release by
	// itself, and is then ready.
	late := freeAddr(t)
	n4 := startDaemon(t, "--cluster", "web", "--node", "n4", "--etcd", etcd, "--peer-listen", late, "--cluster-lease", "2s")
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, _ := ready(t, late)
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the late node never became ready:\n%s", n4.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if b, err := os.ReadFile(filepath.Join(n4.mnt, "current", "index.html")); err != nil || string(b) != "<h1>v2</h1>" {
		t.Errorf("the late node serves %q %v", b, err)
	}
}

func ready(t *testing.T, peer string) (int, string) {
	resp, err := http.Get("http://" + peer + "/v1/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A node killed (kill -9) before an activation: the activation completes
// without it once its lease lapses; restarted, it is not ready until it
// has caught up, then it is, and serves the release.
func TestClusterNodeKilled(t *testing.T) {
	etcd, _ := startEtcd(t)
	nodes, peers := startMembers(t, etcd, 3)
	origin, victim := nodes[0], nodes[2]
	v1 := origin.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("one")}))
	origin.ctl(t, "-q", "activate", v1, "--cluster", "--wait", "60s")
	victim.kill(t)
	v2 := origin.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("two")}))
	// It goes out on the two, and names the dead node as one that served
	// the release before and left (exit 1): it may still serve the old one.
	start := time.Now()
	out, stderr, err := origin.try("--json", "activate", v2, "--cluster", "--wait", "60s")
	t.Logf("with a node killed, the release went out on the others in %s (lease 2 s)", time.Since(start).Round(time.Millisecond))
	var res struct {
		Members []string `json:"members"`
		Missing []string `json:"missing"`
		Left    []string `json:"left"`
	}
	json.Unmarshal([]byte(out), &res)
	if err == nil || len(res.Members) != 2 || len(res.Missing) != 0 || len(res.Left) != 1 || res.Left[0] != "n3" || !strings.Contains(stderr, "n3 served the release before and left") {
		t.Fatalf("activation with a dead node: %v %s %s", err, out, stderr)
	}
	victim.start(t)
	restarted := time.Now()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if status, _ := ready(t, peers[2]); status == 200 {
			t.Logf("the killed node, restarted, was ready %s after its start returned", time.Since(restarted).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted node never became ready:\n%s", victim.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if b, err := os.ReadFile(filepath.Join(victim.mnt, "current", "index.html")); err != nil || string(b) != "two" {
		t.Errorf("the restarted node serves %q %v", b, err)
	}
	if out := victim.ctl(t, "verify"); strings.Contains(out, "DAMAGED") {
		t.Errorf("verify on the restarted node: %s", out)
	}
}

// A member that never stages holds the flip: when --wait ends the
// activation names it and, with --abort, withdraws the release; every node
// goes on serving the committed one.
func TestClusterSlowMemberAndAbort(t *testing.T) {
	etcd, _ := startEtcd(t)
	var nodes []*daemon
	for i := 1; i <= 2; i++ {
		nodes = append(nodes, startDaemon(t, "--cluster", "web", "--node", fmt.Sprintf("n%d", i), "--etcd", etcd, "--peer-listen", freeAddr(t), "--cluster-lease", "2s"))
	}
	origin := nodes[0]
	v1 := origin.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("one")}))
	origin.ctl(t, "-q", "activate", v1, "--cluster", "--wait", "60s")
	// A ghost member: alive in etcd, never staging.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	lease, err := cli.Grant(context.Background(), 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.KeepAlive(context.Background(), lease.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(context.Background(), "/vfs/web/members/ghost", `{"peer":"127.0.0.1:1"}`, clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	v2 := origin.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("two"), "assets/new-12345678.js": []byte("new()")}))
	// Without --abort the release stays desired, and the message says so.
	_, stderr, err := origin.try("activate", v2, "--cluster", "--wait", "3s")
	if err == nil || !strings.Contains(stderr, "stays desired") {
		t.Errorf("without --abort: %v %s", err, stderr)
	}
	// Staged but not flipped: every node serves the staged release's
	// assets already (lookahead), and its entries not yet.
	for i, n := range nodes {
		if b, err := os.ReadFile(filepath.Join(n.mnt, "current", "assets", "new-12345678.js")); err != nil || string(b) != "new()" {
			t.Errorf("node %d: the staged release's asset: %q %v", i+1, b, err)
		}
		if b, _ := os.ReadFile(filepath.Join(n.mnt, "current", "index.html")); string(b) != "one" {
			t.Errorf("node %d serves the staged entry %q before the flip", i+1, b)
		}
	}
	_, stderr, err = origin.try("activate", v2, "--cluster", "--wait", "3s", "--abort")
	if err == nil || !strings.Contains(stderr, "aborted: ghost did not stage") {
		t.Fatalf("activation held by a ghost: %v %s", err, stderr)
	}
	var st struct {
		Desired   map[string]int `json:"desired"`
		Committed map[string]int `json:"committed"`
	}
	json.Unmarshal([]byte(origin.ctl(t, "--json", "cluster", "status")), &st)
	if st.Committed["current"] != 1 || st.Desired["current"] != 4 {
		t.Errorf("after the abort: %+v (want committed 1, desired 4: the committed snapshot again)", st)
	}
	// Withdrawn: its assets go again once the nodes stage the committed
	// release (a reconcile away).
	for i, n := range nodes {
		deadline := time.Now().Add(15 * time.Second)
		for {
			_, err := os.Stat(filepath.Join(n.mnt, "current", "assets", "new-12345678.js"))
			if os.IsNotExist(err) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("node %d still serves the aborted release's asset: %v", i+1, err)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if b, _ := os.ReadFile(filepath.Join(n.mnt, "current", "index.html")); string(b) != "one" {
			t.Errorf("after the abort node %d serves %q", i+1, b)
		}
	}
}

// The promise across nodes: three nodes behind three nginx, a client that
// loads a page from one node and its assets from the others, while twenty
// releases switch with --cluster. No asset request fails and none returns
// another release's bytes; with --grace 0 (no carry-over) some fail.
func TestClusterSkewFree(t *testing.T) {
	for _, grace := range []string{"7d", "0"} {
		t.Run("grace "+grace, func(t *testing.T) {
			failed, mixed, total := runClusterSkew(t, grace)
			t.Logf("grace %s: %d asset requests, %d failed, %d mixed", grace, total, failed, mixed)
			if mixed != 0 {
				t.Errorf("%d assets came from another release", mixed)
			}
			if grace == "7d" && failed != 0 {
				t.Errorf("%d of %d asset requests failed", failed, total)
			}
			if grace == "0" && failed == 0 {
				t.Errorf("without carry-over no asset request failed: the test cannot tell")
			}
		})
	}
}

func runClusterSkew(t *testing.T, grace string) (failed, mixed, total int) {
	etcd, _ := startEtcd(t)
	var nodes []*daemon
	var sites []string
	for i := 1; i <= 3; i++ {
		d := startDaemon(t, "--cluster", "web", "--node", fmt.Sprintf("n%d", i), "--etcd", etcd, "--peer-listen", freeAddr(t), "--cluster-lease", "5s", "--grace", grace)
		nodes = append(nodes, d)
	}
	release := func(n int) string {
		asset := fmt.Sprintf("assets/app-%08x.js", n*7919)
		return nodes[0].importDir(t, writeSite(t, map[string][]byte{
			"index.html": []byte(fmt.Sprintf(`<script src="/%s"></script>%d`, asset, n)),
			asset:        []byte(fmt.Sprintf("release %d", n)),
		}))
	}
	nodes[0].ctl(t, "-q", "activate", release(0), "--cluster", "--wait", "60s")
	for _, d := range nodes {
		sites = append(sites, startGeneratedNginx(t, d, "--server-name", "site.test"))
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		client := &http.Client{Timeout: 5 * time.Second}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			status, page := getHost(t, client, sites[i%3]+"/index.html", "site.test")
			if status != 200 {
				continue
			}
			start := strings.Index(page, `src="/`) + len(`src="/`)
			end := strings.Index(page[start:], `"`)
			if start < len(`src="/`) || end < 0 {
				continue
			}
			asset, n := page[start:start+end], page[strings.LastIndex(page, ">")+1:]
			// A moment later, from another node, as a browser would.
			time.Sleep(20 * time.Millisecond)
			status, body := getHost(t, client, sites[(i+1)%3]+"/"+asset, "site.test")
			total++
			switch {
			case status != 200:
				failed++
			case body != "release "+n:
				mixed++
			}
		}
	}()
	for n := 1; n <= 20; n++ {
		nodes[0].ctl(t, "-q", "activate", release(n), "--cluster", "--wait", "60s")
	}
	close(stop)
	<-done
	return failed, mixed, total
}
