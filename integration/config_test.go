package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The generated configurations, through real nginx, Apache and Caddy: /snapshots/
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
		"caddy":                     {startGeneratedCaddy(t, d, "--server-name", "site.test"), "site.test"},
		"caddy --expose-snapshots":  {startGeneratedCaddy(t, d, "--server-name", "site.test", "--expose-snapshots"), "site.test"},
	}
	if _, errb, err := d.try("config", "caddy", "--canary", "10"); exitCode(err) != 2 || !strings.Contains(errb, "--canary is for nginx and apache") {
		t.Errorf("config caddy --canary: exit %d %s", exitCode(err), errb)
	}
	for name, s := range servers {
		if status, body := getHost(t, client, s[0]+"/index.html", s[1]); status != 200 || body != "live" {
			t.Errorf("%s: / %d %q", name, status, body)
		}
		want := 404
		if strings.HasSuffix(name, " --expose-snapshots") {
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

// Which snapshot served a response: the response's Date header, given to
// vfsctl as @TIME, names it from the activation log. (A header per
// response would need nginx to read the mount per request; this costs
// serving nothing.) Dates have whole seconds, so the test keeps the
// activation a second away from the requests.
func TestWhichSnapshotServedAResponse(t *testing.T) {
	d := startDaemon(t)
	v1 := d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("one")}), "--activate")
	v2 := d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("two")}))
	site := startGeneratedNginx(t, d, "--server-name", "site.test")
	date := func() string {
		req, _ := http.NewRequest("GET", site+"/index.html", nil)
		req.Host = "site.test"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Date")
	}
	served := func(date string) string {
		var show struct {
			Snapshot struct{ ID string } `json:"snapshot"`
		}
		if err := json.Unmarshal([]byte(d.ctl(t, "--json", "snapshot", "show", "@"+date)), &show); err != nil {
			t.Fatal(err)
		}
		return show.Snapshot.ID
	}
	time.Sleep(1100 * time.Millisecond)
	d1 := date()
	time.Sleep(1100 * time.Millisecond)
	d.ctl(t, "-q", "activate", v2)
	time.Sleep(1100 * time.Millisecond)
	d2 := date()
	if got := served(d1); got != v1 {
		t.Errorf("@%s: %s, want %s", d1, got, v1)
	}
	if got := served(d2); got != v2 {
		t.Errorf("@%s: %s, want %s", d2, got, v2)
	}
}
