package integration

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// scrape returns the value of one sample line of vfsd's /metrics.
func scrape(t *testing.T, url, sample string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// The Prometheus endpoint, scraped over HTTP: values move as files are
// read, refs activated, assets carried over and garbage collected.
func TestMetricsMoveWithTheWork(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := startDaemon(t, "--metrics-listen", addr)
	url := "http://" + addr + "/metrics"
	v1 := d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("one"), "assets/app-AAAA1111.js": randomBytes(100000, 1),
		"assets/text-BBBB2222.js": bytes.Repeat([]byte("text();\n"), 1000)}))
	// The text file alone compresses: random bytes do not pay, "one" is
	// under a kilobyte.
	if f, v := scrape(t, url, "vfs_compressed_files_total"), scrape(t, url, "vfs_variants_made_total"); f != 2 || v != 2 || scrape(t, url, "vfs_compress_seconds_total") <= 0 {
		t.Errorf("compressed %v files into %v variants; want 2 files (the random one tried), 2 variants", f, v)
	}
	v2 := d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("two")}))
	if scrape(t, url, "vfs_snapshots") != 2 || scrape(t, url, "vfs_store_bytes") <= 0 {
		t.Fatalf("store gauges: snapshots %v, bytes %v", scrape(t, url, "vfs_snapshots"), scrape(t, url, "vfs_store_bytes"))
	}
	d.ctl(t, "-q", "activate", v1)
	d.ctl(t, "-q", "activate", v2)
	if got := scrape(t, url, `vfs_activations_total{ref="current"}`); got != 2 {
		t.Errorf("activations %v, want 2", got)
	}
	before := scrape(t, url, "vfs_read_bytes_total")
	if _, err := os.ReadFile(filepath.Join(d.mnt, "current/assets/app-AAAA1111.js")); err != nil {
		t.Fatal(err)
	}
	if got := scrape(t, url, "vfs_read_bytes_total") - before; got != 100000 {
		t.Errorf("read bytes moved by %v, want 100000", got)
	}
	if got := scrape(t, url, `vfs_carryover_lookups_total{depth="1"}`); got != 1 {
		t.Errorf("carry-over lookups of v1: %v, want 1", got)
	}
	if scrape(t, url, `vfs_fuse_requests_total{op="lookup"}`) == 0 || scrape(t, url, `vfs_fuse_request_duration_seconds_count{op="read"}`) == 0 {
		t.Error("FUSE request counters did not move")
	}
	d.ctl(t, "-q", "gc")
	if got := scrape(t, url, "vfs_gc_runs_total"); got != 1 {
		t.Errorf("gc runs %v, want 1", got)
	}
	// Go's and the process's own, which every Prometheus user expects.
	if scrape(t, url, "go_goroutines") <= 0 || scrape(t, url, "process_resident_memory_bytes") <= 0 || scrape(t, url, "process_open_fds") <= 0 {
		t.Error("no go_* or process_* metrics")
	}
}
