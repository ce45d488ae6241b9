package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkCluster measures releases going out to N nodes on loopback, for
// N = 3, 10 and 30 (make bench-cluster; skipped unless VFS_BENCH_CLUSTER is
// set, since thirty vfsd processes take a while; VFS_BENCH_CLUSTER_N=3,10
// picks others): the time from activate to every node applied, split into
// stage, decide and apply; the spread of the nodes' flip times; the etcd
// requests each node made per release; the bytes the origin sent and the
// most any other node received, each divided by the bytes the release
// changed (each node should fetch the change once). Each release changes
// the page and adds a 64 KiB asset to a site of 200 files of 4 KiB. With
// VFS_BENCH_CLUSTER_SIGNED=1 every node runs with --allowed-signers and
// each release is imported with --sign-key, to compare the two.
func BenchmarkCluster(b *testing.B) {
	if os.Getenv("VFS_BENCH_CLUSTER") == "" {
		b.Skip("set VFS_BENCH_CLUSTER=1 (make bench-cluster)")
	}
	const releases = 20
	sizes := []int{3, 10, 30}
	if v := os.Getenv("VFS_BENCH_CLUSTER_N"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 2 {
				b.Fatalf("VFS_BENCH_CLUSTER_N=%s: node counts of 2 or more, such as 3,10,30", v)
			}
			sizes = append(sizes, n)
		}
	}
	for i := 0; i < b.N; i++ {
		for _, n := range sizes {
			benchClusterOf(b, n, releases)
		}
	}
}

// pulledBytes matches a node's log line for a pull of generation gen.
func pulledBytes(log string, gen int) int64 {
	re := regexp.MustCompile(`cluster: pulled" .*gen=` + strconv.Itoa(gen) + ` .*received=(\d+)`)
	var sum int64
	for _, m := range re.FindAllStringSubmatch(log, -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		sum += n
	}
	return sum
}

func benchClusterOf(b *testing.B, n, releases int) {
	etcd, server := startEtcd(b)
	defer server.Close()
	var nodes []*daemon
	var metrics, signing, signKey []string
	if os.Getenv("VFS_BENCH_CLUSTER_SIGNED") != "" {
		key := filepath.Join(b.TempDir(), "release")
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
			b.Fatalf("ssh-keygen: %v %s", err, out)
		}
		pub, _ := os.ReadFile(key + ".pub")
		allowed := filepath.Join(b.TempDir(), "allowed_signers")
		os.WriteFile(allowed, append([]byte(`release@bench namespaces="vfs" `), pub...), 0o644)
		signing, signKey = []string{"--allowed-signers", allowed}, []string{"--sign-key", key}
		fmt.Printf("\n(every node with --allowed-signers; every release signed)")
	}
	for i := 1; i <= n; i++ {
		m := freeAddr(b)
		d := startDaemon(b, append([]string{"--cluster", "bench", "--node", fmt.Sprintf("n%02d", i), "--etcd", etcd, "--peer-listen", freeAddr(b), "--cluster-lease", "5s",
			"--metrics-listen", m}, signing...)...)
		defer d.stop(b)
		nodes, metrics = append(nodes, d), append(metrics, m)
	}
	origin := nodes[0]
	files := map[string][]byte{"index.html": []byte("<h1>release 0</h1>")}
	for f := 0; f < 200; f++ {
		files[fmt.Sprintf("static/f%03d.css", f)] = noise(4 << 10)[:4<<10-f]
	}
	site := writeSite(b, files)
	os.MkdirAll(filepath.Join(site, "assets"), 0o755)
	origin.ctl(b, "-q", "activate", origin.importDir(b, site, signKey...), "--cluster", "--wait", "2m")
	var total, stage, decide, apply, spread []time.Duration
	var received, changed int64
	mostReceived := make([]int64, n)
	requestsBefore := sumMetric(b, metrics, "vfs_cluster_etcd_requests_total")
	sentBefore := sumMetric(b, metrics[:1], "vfs_peer_sent_bytes_total")
	for r := 1; r <= releases; r++ {
		os.WriteFile(filepath.Join(site, "index.html"), []byte(fmt.Sprintf("<h1>release %d</h1>", r)), 0o644)
		asset := append([]byte(fmt.Sprintf("/* release %d */", r)), noise(64<<10)...)
		os.WriteFile(filepath.Join(site, fmt.Sprintf("assets/app-%08d.js", r)), asset, 0o644)
		var imp struct {
			Snapshot struct {
				ID string `json:"id"`
			} `json:"snapshot"`
			Stats struct {
				BytesNew int64 `json:"bytes_new"`
			} `json:"stats"`
		}
		out := origin.ctl(b, append([]string{"--json", "-q", "snapshot", "import", site}, signKey...)...)
		if err := json.Unmarshal([]byte(out), &imp); err != nil {
			b.Fatalf("import: %v %s", err, out)
		}
		start := time.Now()
		out = origin.ctl(b, "--json", "activate", imp.Snapshot.ID, "--cluster", "--wait", "2m")
		took := time.Since(start)
		var res struct {
			Gen     int      `json:"gen"`
			Missing []string `json:"missing"`
			Phases  struct {
				Stage, Decide, Apply string
				FlipSpread           string `json:"flip_spread"`
			} `json:"phases"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Missing) > 0 {
			b.Fatalf("activate: %v %s", err, out)
		}
		parse := func(s string) time.Duration { d, _ := time.ParseDuration(s); return d }
		total = append(total, took)
		stage, decide, apply = append(stage, parse(res.Phases.Stage)), append(decide, parse(res.Phases.Decide)), append(apply, parse(res.Phases.Apply))
		spread = append(spread, parse(res.Phases.FlipSpread))
		changed += imp.Stats.BytesNew
		for i, d := range nodes[1:] {
			got := pulledBytes(d.log.String(), res.Gen)
			received += got
			mostReceived[i+1] += got
		}
	}
	requests := sumMetric(b, metrics, "vfs_cluster_etcd_requests_total") - requestsBefore
	sent := sumMetric(b, metrics[:1], "vfs_peer_sent_bytes_total") - sentBefore
	ratio := float64(received) / float64(changed*int64(n-1))
	fmt.Printf("\n%d nodes, %d releases (each: a page and a 64 KiB asset), loopback:\n", n, releases)
	fmt.Printf("| | median | p95 | max |\n| --- | --- | --- | --- |\n")
	for _, row := range []struct {
		name string
		d    []time.Duration
	}{{"activate to all applied (vfsctl)", total}, {"stage", stage}, {"decide", decide}, {"apply", apply}, {"flip spread (first to last node)", spread}} {
		s := slices.Clone(row.d)
		slices.Sort(s)
		fmt.Printf("| %s | %s | %s | %s |\n", row.name, s[len(s)/2].Round(10*time.Microsecond), s[len(s)*95/100].Round(10*time.Microsecond), s[len(s)-1].Round(10*time.Microsecond))
	}
	fmt.Printf("bytes received by the other %d nodes / (%d x bytes changed): %.2f (%s received, %s changed)\n",
		n-1, n-1, ratio, strconv.FormatInt(received, 10), strconv.FormatInt(changed, 10))
	fmt.Printf("etcd requests per node per release: %.1f\n", requests/float64(n*releases))
	fmt.Printf("bytes the origin sent / bytes changed: %.2f; the most one other node received / bytes changed: %.2f\n",
		sent/float64(changed), float64(slices.Max(mostReceived))/float64(changed))
	b.ReportMetric(ratio, fmt.Sprintf("received/changed-N%d", n))
	b.ReportMetric(float64(slices.Max(spread).Microseconds())/1000, fmt.Sprintf("max-spread-ms-N%d", n))
}

// sumMetric adds up a metric's value over the vfsd /metrics at addrs.
func sumMetric(b *testing.B, addrs []string, name string) float64 {
	var sum float64
	for _, a := range addrs {
		resp, err := http.Get("http://" + a + "/metrics")
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		found := false
		for _, line := range strings.Split(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatalf("%s: %q", name, line)
				}
				sum, found = sum+f, true
			}
		}
		if !found {
			b.Fatalf("%s has no %s", a, name)
		}
	}
	return sum
}
