package integration

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A site that ships precompressed siblings (app.js.gz from gzip -9, app.js.br
// from brotli -q 11, as vite-plugin-compression makes them) is served
// compressed by nginx (gzip_static, and brotli_static from Debian's
// libnginx-mod-http-brotli-static), Apache (the generated mod_rewrite
// recipe) and Caddy (file_server precompressed), each through its generated
// configuration: the sibling's exact bytes, the file's own type, the
// encoding and Vary: Accept-Encoding; a client that accepts neither gets the
// file; a .tar.gz asked for by its name is a download, not an encoding.
func TestPrecompressedSiblings(t *testing.T) {
	need(t, "gzip", "brotli")
	site := t.TempDir()
	js := []byte(strings.Repeat("export function render(state) { return document.querySelectorAll('.item').length + state.count; }\n", 600))
	os.MkdirAll(filepath.Join(site, "assets"), 0o755)
	os.MkdirAll(filepath.Join(site, "downloads"), 0o755)
	app := filepath.Join(site, "assets", "app-1a2b3c4d.js")
	os.WriteFile(app, js, 0o644)
	os.WriteFile(filepath.Join(site, "index.html"), []byte(`<script type="module" src="/assets/app-1a2b3c4d.js"></script>`), 0o644)
	sh(t, nil, "gzip", "-9", "-k", app)
	sh(t, nil, "brotli", "-q", "11", "-k", app)
	tarball := filepath.Join(site, "downloads", "data.tar.gz")
	os.WriteFile(filepath.Join(site, "downloads", "data.tar"), js[:4096], 0o644)
	sh(t, nil, "gzip", "-9", filepath.Join(site, "downloads", "data.tar"))
	gz, _ := os.ReadFile(app + ".gz")
	br, _ := os.ReadFile(app + ".br")
	tgz, _ := os.ReadFile(tarball)

	d := startDaemon(t)
	d.importDir(t, site, "--activate")
	servers := map[string][2]string{
		"nginx":  {startGeneratedNginx(t, d, "--server-name", "site.test"), "site.test"},
		"apache": {startApacheWith(t, d.mnt).url, "www.example.com"},
		"caddy":  {startGeneratedCaddy(t, d, "--server-name", "site.test"), "site.test"},
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	get := func(url, host, accept string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		req.Host = host
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, b
	}
	for name, s := range servers {
		for _, c := range []struct {
			accept, encoding string
			want             []byte
		}{
			{"gzip, deflate, br", "br", br},
			{"gzip", "gzip", gz},
			{"", "", js},
		} {
			what := fmt.Sprintf("%s, Accept-Encoding %q", name, c.accept)
			resp, body := get(s[0]+"/assets/app-1a2b3c4d.js", s[1], c.accept)
			if resp.StatusCode != 200 || !bytes.Equal(body, c.want) {
				t.Errorf("%s: %d, %d bytes, want the %d bytes of the %q sibling", what, resp.StatusCode, len(body), len(c.want), c.encoding)
			}
			if got := resp.Header.Get("Content-Encoding"); got != c.encoding {
				t.Errorf("%s: Content-Encoding %q, want %q", what, got, c.encoding)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
				t.Errorf("%s: Content-Type %q", what, ct)
			}
			if c.encoding != "" && !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Accept-Encoding") {
				t.Errorf("%s: Vary %q", what, resp.Header.Values("Vary"))
			}
		}
		resp, body := get(s[0]+"/downloads/data.tar.gz", s[1], "gzip")
		if resp.StatusCode != 200 || !bytes.Equal(body, tgz) || resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s: a .tar.gz download: %d, Content-Encoding %q, %d bytes", name, resp.StatusCode, resp.Header.Get("Content-Encoding"), len(body))
		}
	}
}

// vfsd compresses a site's text files at import: through the mount,
// app.js.gz and app.js.br beside app.js, which gzip -d and brotli -d (the
// reference tools) turn into app.js's exact bytes, with app.js's mode and
// a validator of their own that changes with the content; none for an
// image; a .gz the site ships wins; listings show only the site's files.
// nginx's gzip_static and brotli_static then serve them.
func TestVariantsInTheMount(t *testing.T) {
	need(t, "gzip", "brotli")
	js := []byte(strings.Repeat("export function render(state) { return document.querySelectorAll('.item').length + state.count; }\n", 600))
	png := make([]byte, 20000)
	for i := range png {
		png[i] = byte(i * 7919 >> 3)
	}
	own := []byte(strings.Repeat("shipped();\n", 500))
	site := writeSite(t, map[string][]byte{
		"assets/app-1a2b3c4d.js": js,
		"index.html":             []byte(strings.Repeat(`<p>hello</p>`, 200)),
		"logo.png":               png,
		"own.js":                 own,
		"own.js.gz":              []byte("the site's own bytes, not gzip at all"),
	})
	d := startDaemon(t)
	id := d.importDir(t, site, "--activate")
	assets := filepath.Join(d.mnt, "current", "assets")
	app := filepath.Join(assets, "app-1a2b3c4d.js")
	for _, c := range [][]string{{"gzip", "-dc", app + ".gz"}, {"brotli", "-dc", app + ".br"}} {
		out, err := exec.Command(c[0], c[1:]...).Output()
		if err != nil || !bytes.Equal(out, js) {
			t.Errorf("%s: %d bytes, %v; want app.js's %d", strings.Join(c, " "), len(out), err, len(js))
		}
	}
	fi, _ := os.Stat(app)
	gzi, err := os.Stat(app + ".gz")
	if err != nil || gzi.Mode() != fi.Mode() || gzi.Size() >= fi.Size() {
		t.Fatalf("app.js.gz: %v %v; want app.js's mode (%v), fewer bytes", gzi, err, fi.Mode())
	}
	if _, err := os.Stat(filepath.Join(d.mnt, "snapshots", id, "assets", "app-1a2b3c4d.js.br")); err != nil {
		t.Errorf("under /snapshots/%s: %v", id, err)
	}
	for _, p := range []string{"logo.png.gz", "logo.png.br", "index.html.gz.gz", "nothing.js.gz"} {
		if _, err := os.Stat(filepath.Join(d.mnt, "current", p)); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want ENOENT", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(d.mnt, "current", "index.html.br")); err != nil {
		t.Errorf("index.html.br: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(d.mnt, "current", "own.js.gz")); string(b) != "the site's own bytes, not gzip at all" {
		t.Errorf("own.js.gz is %q, not the site's own file", b)
	}
	ents, _ := os.ReadDir(assets)
	if len(ents) != 1 {
		t.Errorf("assets lists %v; want app.js alone", ents)
	}

	// A new content: a new validator, and the old one stays the old
	// content's.
	os.WriteFile(filepath.Join(site, "assets", "app-1a2b3c4d.js"), append(bytes.Clone(js), "// v2\n"...), 0o644)
	id2 := d.importDir(t, site)
	gz2, err := os.Stat(filepath.Join(d.mnt, "snapshots", id2, "assets", "app-1a2b3c4d.js.gz"))
	if err != nil || (gz2.Size() == gzi.Size() && gz2.ModTime().Equal(gzi.ModTime())) {
		t.Errorf("the changed content's .gz has the old validator (%v)", err)
	}
	gz1, _ := os.Stat(app + ".gz")
	if gz1.Size() != gzi.Size() || !gz1.ModTime().Equal(gzi.ModTime()) {
		t.Error("the first content's .gz changed its validator")
	}

	// --no-compress: none; the report of an import that compressed says
	// so.
	plain := writeSite(t, map[string][]byte{"plain.js": bytes.Repeat([]byte("plain();\n"), 500)})
	id3 := d.importDir(t, plain, "--no-compress")
	if _, err := os.Stat(filepath.Join(d.mnt, "snapshots", id3, "plain.js.gz")); !os.IsNotExist(err) {
		t.Errorf("--no-compress: plain.js.gz %v", err)
	}
	loud := writeSite(t, map[string][]byte{"loud.js": bytes.Repeat([]byte("loud();\n"), 500)})
	out, errb, err := d.try("snapshot", "import", loud)
	if err != nil || !strings.Contains(out+errb, "compressed 1 text file new to the store") {
		t.Errorf("import said %q %q (%v)", out, errb, err)
	}

	// nginx with the generated configuration sends the variants.
	url := startGeneratedNginx(t, d, "--server-name", "site.test", "--brotli", "on")
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	wantBr, _ := os.ReadFile(app + ".br")
	for accept, want := range map[string]string{"br, gzip": "br", "gzip": "gzip"} {
		req, _ := http.NewRequest("GET", url+"/assets/app-1a2b3c4d.js", nil)
		req.Host = "site.test"
		req.Header.Set("Accept-Encoding", accept)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get("Content-Encoding") != want || resp.Header.Get("ETag") == "" {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, ETag %q", accept, resp.Header.Get("Content-Encoding"), resp.Header.Get("ETag"))
		}
		if want == "br" && !bytes.Equal(body, wantBr) {
			t.Errorf("nginx sent %d bytes, not the mount's .br", len(body))
		}
	}
}
