package integration

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
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
