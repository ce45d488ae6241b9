package integration

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vfs-project/vfs/store"
)

// Two builds made in the same second with an index.html of the same size
// but other content: nginx and Apache must give them different validators,
// so a browser revalidating with the old ETag gets 200 and the new page,
// while an unchanged file keeps its validators (304).
func TestValidatorsAcrossDeploys(t *testing.T) {
	d := startDaemon(t)
	same := time.Now().Add(-time.Hour).Truncate(time.Second)
	build := func(index string) string {
		dir := writeSite(t, map[string][]byte{"index.html": []byte(index), "logo.svg": []byte("<svg/>")})
		for _, f := range []string{"index.html", "logo.svg"} {
			os.Chtimes(filepath.Join(dir, f), same, same)
		}
		return d.importDir(t, dir)
	}
	v1, v2 := build("<h1>build one</h1>"), build("<h1>build two</h1>")
	for _, start := range []func(testing.TB, string, string) webServer{startNginx, startApache} {
		srv := start(t, d.mnt, filepath.Join(d.mnt, "current"))
		d.ctl(t, "-q", "activate", v1)
		first, _ := get(t, srv.url+"/index.html")
		logo, _ := get(t, srv.url+"/logo.svg")
		d.ctl(t, "-q", "activate", v2)
		resp, body := get(t, srv.url+"/index.html", "If-None-Match", first.Header.Get("ETag"), "If-Modified-Since", first.Header.Get("Last-Modified"))
		if resp.StatusCode != 200 || string(body) != "<h1>build two</h1>" {
			t.Errorf("%s: revalidating the old page after the switch: %d %q (ETag %s -> %s)", srv.name, resp.StatusCode, body, first.Header.Get("ETag"), resp.Header.Get("ETag"))
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s: an entry's Cache-Control is %q, want no-cache", srv.name, cc)
		}
		resp, _ = get(t, srv.url+"/logo.svg", "If-None-Match", logo.Header.Get("ETag"))
		if resp.StatusCode != 304 {
			t.Errorf("%s: an unchanged file after the switch: %d, want 304", srv.name, resp.StatusCode)
		}
	}
}

// prune and gc through the daemon: disk shrinks, what is kept verifies, and
// a file open through the mount when its snapshot goes keeps reading.
func TestPruneAndGCWhileServing(t *testing.T) {
	d := startDaemon(t)
	var ids []string
	var opened *os.File
	big := map[int][]byte{}
	for v := 0; v < 5; v++ {
		big[v] = randomBytes(24<<20, int64(100+v))
		ids = append(ids, d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte{byte('0' + v)}, "video.bin": big[v]})))
		d.ctl(t, "-q", "activate", ids[v])
		if v == 0 {
			f, err := os.Open(filepath.Join(d.mnt, "current/video.bin"))
			if err != nil {
				t.Fatal(err)
			}
			opened = f
			defer f.Close()
		}
	}
	before := dirBlocks(t, d.store)
	// Shorter than vfsd's grace: forced (the open file keeps its content).
	out := d.ctl(t, "--json", "snapshot", "prune", "--keep-last", "2", "--keep-within", "0s", "--force")
	var res struct{ Decisions []struct{ Keep bool } }
	json.Unmarshal([]byte(out), &res)
	dropped := 0
	for _, x := range res.Decisions {
		if !x.Keep {
			dropped++
		}
	}
	if dropped != 3 {
		t.Fatalf("prune dropped %d snapshots, want 3:\n%s", dropped, out)
	}
	var gc store.GCStats
	if err := json.Unmarshal([]byte(d.ctl(t, "--json", "gc")), &gc); err != nil {
		t.Fatal(err)
	}
	after := dirBlocks(t, d.store)
	t.Logf("gc: %+v; store %d -> %d MiB", gc, before>>20, after>>20)
	if gc.Files < 2 || after > before*3/4 {
		t.Errorf("gc deleted %d files and the store went from %d to %d bytes", gc.Files, before, after)
	}
	if out, _, err := d.try("verify"); err != nil {
		t.Errorf("verify after gc: %v %s", err, out)
	}
	got := make([]byte, len(big[0]))
	if _, err := opened.ReadAt(got, 0); err != nil || !bytes.Equal(got, big[0]) {
		t.Errorf("a file open since before its snapshot was pruned and collected read %v, equal %v", err, bytes.Equal(got, big[0]))
	}
	if list := d.ctl(t, "snapshot", "list"); strings.Contains(list, ids[0][:12]) {
		t.Errorf("pruned snapshot still listed:\n%s", list)
	}
}

// dirBlocks is the disk space a directory's files take (Badger's memtable
// files are large and sparse).
func dirBlocks(t *testing.T, dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if st, ok := fi.Sys().(*syscall.Stat_t); err == nil && ok && fi.Mode().IsRegular() {
			n += st.Blocks * 512
		}
		return nil
	})
	return n
}
