package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Two nodes: a snapshot imported on one is pulled by hash into the other
// through its socket, checked, and served there with the same files,
// sizes and mtimes (so the same validators); a second version sharing
// most content fetches little more than what changed.
func TestPullBetweenNodes(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	peer := l.Addr().String()
	l.Close()
	a := startDaemon(t, "--peer-listen", peer)
	b := startDaemon(t)
	site := writeSite(t, map[string][]byte{
		"index.html":             []byte("<h1>v1</h1>"),
		"assets/big-1a2b3c4d.js": noise(3 << 20),
		"assets/app-5e6f7a8b.js": []byte("app()"),
	})
	v1 := a.importDir(t, site)
	if got := strings.TrimSpace(b.ctl(t, "-q", "snapshot", "pull", peer, v1)); got != v1 {
		t.Fatalf("pull printed %q", got)
	}
	b.ctl(t, "-q", "activate", v1)
	a.ctl(t, "-q", "activate", v1)
	for _, p := range []string{"index.html", "assets/big-1a2b3c4d.js", "assets/app-5e6f7a8b.js"} {
		fa, err1 := os.Stat(filepath.Join(a.mnt, "current", p))
		fb, err2 := os.Stat(filepath.Join(b.mnt, "current", p))
		if err1 != nil || err2 != nil || fa.Size() != fb.Size() || !fa.ModTime().Equal(fb.ModTime()) {
			t.Errorf("%s: %v %v / %v %v", p, fa, err1, fb, err2)
		}
	}
	if out := b.ctl(t, "verify"); strings.Contains(out, "DAMAGED") {
		t.Fatalf("verify on the second node: %s", out)
	}
	// v2 changes one small file: the pull fetches it, not the 3 MiB.
	os.WriteFile(filepath.Join(site, "index.html"), []byte("<h1>v2</h1>"), 0o644)
	v2 := a.importDir(t, site)
	var res struct {
		Stats struct {
			Chunks       int   `json:"chunks"`
			ChunksHad    int   `json:"chunks_had"`
			BytesFetched int64 `json:"bytes_fetched"`
		} `json:"stats"`
	}
	if err := json.Unmarshal([]byte(b.ctl(t, "--json", "-q", "snapshot", "pull", peer, v2)), &res); err != nil {
		t.Fatal(err)
	}
	if res.Stats.BytesFetched > 64<<10 || res.Stats.ChunksHad < 12 {
		t.Errorf("second pull: %+v, want the 3 MiB already here", res.Stats)
	}
	// An id the peer does not have is not found, and nothing is recorded.
	missing := strings.Repeat("ab", 32)
	if _, stderr, err := b.try("snapshot", "pull", peer, missing); err == nil || !strings.Contains(stderr, "not found") {
		t.Errorf("pull of an unknown id: %v %s", err, stderr)
	}
}

// noise is n bytes that do not repeat within a chunk's length.
func noise(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// vfsctl snapshot pull copies the variants with the contents, through the
// receiving daemon's socket, which checks each by decompressing it and
// compresses nothing itself: both mounts show the same app.js.br and
// app.js.gz bytes with the same validators.
func TestPullCopiesVariants(t *testing.T) {
	peer := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	metrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a := startDaemon(t, "--peer-listen", peer)
	b := startDaemon(t, "--metrics-listen", metrics)
	site := writeSite(t, map[string][]byte{
		"index.html":         bytes.Repeat([]byte("<p>pulled</p>\n"), 200),
		"assets/app-9f8e.js": bytes.Repeat([]byte("export const pulled = () => 1;\n"), 300),
	})
	v1 := a.importDir(t, site)
	var res struct {
		Stats struct {
			Variants int `json:"variants"`
		} `json:"stats"`
	}
	if err := json.Unmarshal([]byte(b.ctl(t, "--json", "-q", "snapshot", "pull", peer, v1)), &res); err != nil || res.Stats.Variants != 4 {
		t.Fatalf("pull: %+v %v; want 4 variants copied", res, err)
	}
	if n := scrape(t, "http://"+metrics+"/metrics", "vfs_compressed_files_total"); n != 0 {
		t.Errorf("the receiving daemon compressed %v files", n)
	}
	for _, p := range []string{"index.html.gz", "index.html.br", "assets/app-9f8e.js.gz", "assets/app-9f8e.js.br"} {
		pa := filepath.Join(a.mnt, "snapshots", v1, p)
		pb := filepath.Join(b.mnt, "snapshots", v1, p)
		fa, err1 := os.Stat(pa)
		fb, err2 := os.Stat(pb)
		ba, _ := os.ReadFile(pa)
		bb, _ := os.ReadFile(pb)
		if err1 != nil || err2 != nil || fa.Size() != fb.Size() || !fa.ModTime().Equal(fb.ModTime()) || !bytes.Equal(ba, bb) {
			t.Errorf("%s differs between the nodes: %v %v", p, err1, err2)
		}
	}
	if out := b.ctl(t, "verify"); strings.Contains(out, "DAMAGED") {
		t.Fatalf("verify on the second node: %s", out)
	}
}
