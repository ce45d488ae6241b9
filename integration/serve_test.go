package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/zeebo/blake3"
)

func get(t testing.TB, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func randomBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// The mount, served by real nginx and Apache: bytes equal the imported
// files, /snapshots/<id>/ and /a/<hash>.js serve with the right type, a Range
// request on a 50 MB file is exact, writes fail, and serving leaks no file
// descriptors in the daemon.
func TestServedByNginxAndApache(t *testing.T) {
	d := startDaemon(t)
	big := randomBytes(50<<20, 1)
	app := []byte("export const answer = 42;\n")
	files := map[string][]byte{
		"index.html":                []byte("<!doctype html><h1>v1</h1>"),
		"assets/app-3f2a1b9c.js":    app,
		"assets/style-5b1e2c7d.css": []byte("body{}"),
		"media/video.bin":           big,
	}
	id := d.importDir(t, writeSite(t, files), "--activate")
	nginx := startNginx(t, d.mnt, filepath.Join(d.mnt, "current"))
	apache := startApache(t, d.mnt, filepath.Join(d.mnt, "current"))
	// Round 1 warms the daemon's bounded pools (go-fuse keeps a few pipes);
	// round 2 must not open a single descriptor more.
	fdsBefore := 0
	for round := 1; round <= 2; round++ {
		if round == 2 {
			fdsBefore = d.fdCount(t)
		}
		for _, srv := range []webServer{nginx, apache} {
			t.Run(fmt.Sprintf("%s/round%d", srv.name, round), func(t *testing.T) { checkServed(t, srv, files, id) })
		}
	}
	if err := os.WriteFile(filepath.Join(d.mnt, "current/new.html"), []byte("x"), 0o644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("write into the mount: %v, want EROFS", err)
	}
	if after := d.fdCount(t); after != fdsBefore {
		t.Errorf("vfsd had %d file descriptors before serving, %d after: %s", fdsBefore, after, d.fds(t))
	}
}

func checkServed(t *testing.T, srv webServer, files map[string][]byte, id string) {
	app, big := files["assets/app-3f2a1b9c.js"], files["media/video.bin"]
	appHash := fmt.Sprintf("%x", blake3.Sum256(app))
	for p, want := range files {
		resp, body := get(t, srv.url+"/"+p)
		if resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Errorf("GET /%s: %d, %d bytes (want %d)", p, resp.StatusCode, len(body), len(want))
		}
	}
	resp, body := get(t, srv.url+"/snapshots/"+id+"/index.html")
	if resp.StatusCode != 200 || !bytes.Equal(body, files["index.html"]) {
		t.Errorf("GET /snapshots/<id>/index.html: %d %q", resp.StatusCode, body)
	}
	resp, body = get(t, srv.url+"/a/"+appHash+".js")
	if resp.StatusCode != 200 || !bytes.Equal(body, app) || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") {
		t.Errorf("GET /a/<hash>.js: %d, type %q, body %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("/a/ Cache-Control %q", cc)
	}
	resp, _ = get(t, srv.url+"/assets/app-3f2a1b9c.js")
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("/assets/ Cache-Control %q", cc)
	}
	resp, body = get(t, srv.url+"/media/video.bin", "Range", "bytes=10000000-10000999")
	if resp.StatusCode != 206 || !bytes.Equal(body, big[10000000:10001000]) {
		t.Errorf("Range request: %d, %d bytes, exact %v", resp.StatusCode, len(body), bytes.Equal(body, big[10000000:10001000]))
	}
	if cr := resp.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes 10000000-10000999/%d", len(big)) {
		t.Errorf("Content-Range %q", cr)
	}
	resp, _ = get(t, srv.url+"/missing.html")
	if resp.StatusCode != 404 {
		t.Errorf("GET /missing.html: %d", resp.StatusCode)
	}
}
