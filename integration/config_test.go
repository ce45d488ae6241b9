package integration

import (
	"net/http"
	"testing"
)

// The generated configurations, through real nginx and Apache: /snapshots/
// is not public unless asked for, and with vfsd stopped the site answers
// 503 (something for monitoring to notice), not 404.
func TestGeneratedConfigs(t *testing.T) {
	d := startDaemon(t)
	id := d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("live"), "assets/app-3f2a1b9c.js": []byte("x()")}), "--activate")
	client := &http.Client{}
	servers := map[string][2]string{
		"nginx":                     {startGeneratedNginx(t, d, "--server-name", "site.test"), "site.test"},
		"nginx --expose-snapshots":  {startGeneratedNginx(t, d, "--server-name", "site.test", "--expose-snapshots"), "site.test"},
		"apache":                    {startApacheWith(t, d.mnt).url, "www.example.com"},
		"apache --expose-snapshots": {startApacheWith(t, d.mnt, "--expose-snapshots").url, "www.example.com"},
	}
	for name, s := range servers {
		if status, body := getHost(t, client, s[0]+"/index.html", s[1]); status != 200 || body != "live" {
			t.Errorf("%s: / %d %q", name, status, body)
		}
		want := 404
		if name == "nginx --expose-snapshots" || name == "apache --expose-snapshots" {
			want = 200
		}
		if status, _ := getHost(t, client, s[0]+"/snapshots/"+id+"/index.html", s[1]); status != want {
			t.Errorf("%s: /snapshots/: %d, want %d", name, status, want)
		}
	}
	d.stop(t)
	for name, s := range servers {
		for _, p := range []string{"/index.html", "/", "/assets/app-3f2a1b9c.js", "/missing"} {
			if status, _ := getHost(t, client, s[0]+p, s[1]); status != 503 {
				t.Errorf("%s with vfsd stopped: %s %d, want 503", name, p, status)
			}
		}
	}
	d.start(t)
	for name, s := range servers {
		if status, _ := getHost(t, client, s[0]+"/missing", s[1]); status != 404 {
			t.Errorf("%s: a missing page with vfsd running: %d, want 404", name, status)
		}
	}
}
