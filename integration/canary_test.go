package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startGeneratedNginx runs nginx with the server blocks `vfsctl config
// nginx` prints for this mount.
func startGeneratedNginx(t *testing.T, d *daemon, args ...string) string {
	t.Helper()
	need(t, "nginx")
	dir := t.TempDir()
	port := freePort(t)
	gen := d.ctl(t, append([]string{"config", "nginx", "--mount", d.mnt, "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, args...)...)
	os.WriteFile(filepath.Join(dir, "site.conf"), []byte(gen), 0o644)
	// Debian's nginx.conf loads installed modules from modules-enabled/;
	// this one loads brotli_static when it is installed, as the generated
	// configuration expects then.
	load := ""
	if _, err := os.Stat("/usr/lib/nginx/modules/ngx_http_brotli_static_module.so"); err == nil {
		load = "load_module /usr/lib/nginx/modules/ngx_http_brotli_static_module.so;\n"
	}
	main := load + fmt.Sprintf(`daemon off;
worker_processes 2;
user www-data;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/site.conf;
}
`, dir)
	conf := filepath.Join(dir, "nginx.conf")
	os.WriteFile(conf, []byte(main), 0o644)
	cmd := exec.Command("nginx", "-c", conf, "-p", dir)
	out, _ := os.Create(filepath.Join(dir, "out"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "out"))
			e, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("generated nginx config did not start:\n%s\n%s\n%s", gen, b, e)
		}
	}
}

func getHost(t *testing.T, client *http.Client, url, host string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Host = host
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

// The generated canary configurations through real nginx and Apache: with
// 20%, 1,000 distinct clients split close to 20/80, each stays on its side
// across requests, and the X-VFS-Side header forces either side. nginx's
// preview host serves any snapshot by its 12-character id.
func TestCanaryAndPreviewConfig(t *testing.T) {
	d := startDaemon(t)
	stable := d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("stable")}))
	canary := d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("canary")}))
	d.ctl(t, "-q", "activate", stable)
	d.ctl(t, "-q", "activate", canary, "--ref", "canary")

	url := startGeneratedNginx(t, d, "--canary", "20", "--server-name", "site.test", "--preview-domain", "preview.test")
	t.Run("nginx", func(t *testing.T) { checkCanarySplit(t, url, "site.test") })
	if status, got := getHost(t, &http.Client{}, url+"/index.html", canary[:12]+".preview.test"); status != 200 || got != "canary" {
		t.Errorf("preview host of the canary snapshot: %d %q", status, got)
	}
	if status, _ := getHost(t, &http.Client{}, url+"/index.html", strings.Repeat("0", 12)+".preview.test"); status != 404 {
		t.Errorf("preview of an unknown id: %d, want 404", status)
	}
	apache := startApacheWith(t, d.mnt, "--canary", "20")
	t.Run("apache", func(t *testing.T) { checkCanarySplit(t, apache.url, "www.example.com") })
}

func checkCanarySplit(t *testing.T, url, host string) {
	const clients = 1000
	onCanary := 0
	for i := 0; i < clients; i++ {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		_, first := getHost(t, c, url+"/index.html", host)
		if first != "stable" && first != "canary" {
			t.Fatalf("client %d got %q", i, first)
		}
		if first == "canary" {
			onCanary++
		}
		for r := 0; r < 3; r++ {
			if _, again := getHost(t, c, url+"/index.html", host); again != first {
				t.Fatalf("client %d moved from %s to %s on request %d", i, first, again, r+2)
			}
		}
	}
	share := float64(onCanary) / clients
	t.Logf("%d of %d clients on canary (%.1f%%)", onCanary, clients, 100*share)
	if share < 0.15 || share > 0.25 { // about four standard deviations around 20%
		t.Errorf("canary share %.3f, want close to 0.20", share)
	}
	for _, side := range []string{"canary", "stable"} {
		if _, got := getHost(t, &http.Client{}, url+"/index.html", host, "X-VFS-Side", side); got != side {
			t.Errorf("X-VFS-Side: %s served %q", side, got)
		}
	}
}

// Before a canary ref exists every client gets the live site (the canary
// side falls back to current), the side header is on assets too, Apache
// has preview hosts, --spa serves the active snapshot's index.html for
// unknown paths, and --ref serves another ref.
func TestConfigCanaryFallbackPreviewsSPAAndRef(t *testing.T) {
	d := startDaemon(t)
	stable := d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("stable"), "assets/app-1a2b3c4d.js": []byte("s()")}))
	d.ctl(t, "-q", "activate", stable)
	nginx := startGeneratedNginx(t, d, "--canary", "50", "--server-name", "site.test")
	apache := startApacheWith(t, d.mnt, "--canary", "50", "--preview-domain", "preview.test")
	for name, s := range map[string][2]string{"nginx": {nginx, "site.test"}, "apache": {apache.url, "www.example.com"}} {
		for i := 0; i < 40; i++ {
			jar, _ := cookiejar.New(nil)
			if status, got := getHost(t, &http.Client{Jar: jar}, s[0]+"/index.html", s[1]); status != 200 || got != "stable" {
				t.Fatalf("%s without a canary ref, client %d: %d %q", name, i, status, got)
			}
		}
		req, _ := http.NewRequest("GET", s[0]+"/assets/app-1a2b3c4d.js", nil)
		req.Host = s[1]
		req.Header.Set("X-VFS-Side", "canary")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-VFS-Side") == "" {
			t.Errorf("%s: an asset: %d, side header %q", name, resp.StatusCode, resp.Header.Get("X-VFS-Side"))
		}
	}
	if status, got := getHost(t, &http.Client{}, apache.url+"/index.html", stable[:12]+".preview.test"); status != 200 || got != "stable" {
		t.Errorf("apache preview host: %d %q", status, got)
	}
	if status, _ := getHost(t, &http.Client{}, apache.url+"/index.html", strings.Repeat("0", 12)+".preview.test"); status != 404 {
		t.Errorf("apache preview of an unknown id: %d", status)
	}
	caddy := startGeneratedCaddy(t, d, "--server-name", "site.test", "--preview-domain", "preview.test")
	if status, got := getHost(t, &http.Client{}, caddy+"/index.html", stable[:12]+".preview.test"); status != 200 || got != "stable" {
		t.Errorf("caddy preview host: %d %q", status, got)
	}
	if status, _ := getHost(t, &http.Client{}, caddy+"/index.html", strings.Repeat("0", 12)+".preview.test"); status != 404 {
		t.Errorf("caddy preview of an unknown id: %d", status)
	}
	// --spa: an unknown path is the active snapshot's index.html; a real
	// file is itself; a missing asset is still a 404.
	staging := d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("staging")}))
	d.ctl(t, "-q", "activate", staging, "--ref", "staging")
	for name, url := range map[string]string{
		"nginx":  startGeneratedNginx(t, d, "--spa", "--server-name", "site.test"),
		"apache": startApacheWith(t, d.mnt, "--spa").url,
		"caddy":  startGeneratedCaddy(t, d, "--spa", "--server-name", "site.test"),
	} {
		host := map[string]string{"nginx": "site.test", "apache": "www.example.com", "caddy": "site.test"}[name]
		if status, got := getHost(t, &http.Client{}, url+"/some/client/route", host); status != 200 || got != "stable" {
			t.Errorf("%s --spa: a client route: %d %q", name, status, got)
		}
		if status, got := getHost(t, &http.Client{}, url+"/assets/app-1a2b3c4d.js", host); status != 200 || got != "s()" {
			t.Errorf("%s --spa: an asset: %d %q", name, status, got)
		}
		if status, _ := getHost(t, &http.Client{}, url+"/assets/missing-00000000.js", host); status != 404 {
			t.Errorf("%s --spa: a missing asset: %d, want 404", name, status)
		}
	}
	for name, url := range map[string]string{
		"nginx":  startGeneratedNginx(t, d, "--ref", "staging", "--server-name", "site.test"),
		"apache": startApacheWith(t, d.mnt, "--ref", "staging").url,
		"caddy":  startGeneratedCaddy(t, d, "--ref", "staging", "--server-name", "site.test"),
	} {
		host := map[string]string{"nginx": "site.test", "apache": "www.example.com", "caddy": "site.test"}[name]
		if status, got := getHost(t, &http.Client{}, url+"/index.html", host); status != 200 || got != "staging" {
			t.Errorf("%s --ref staging: %d %q", name, status, got)
		}
	}
}
