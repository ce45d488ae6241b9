package integration

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A newcomer's first hour, from a fresh clone of the committed tree: the
// README's first command (make example) serves the example site; nginx
// with the generated configuration serves it; a second version is
// deployed, its page and the old page's assets both load; a rollback
// brings the first back, and a preview host browses the second; stopping
// vfsd (make example-stop) turns the site into 503s.
func TestNewcomer(t *testing.T) {
	need(t, "git", "make", "nginx")
	if os.Getuid() != 0 {
		missing(t, "make example mounts with mount(2): run as root")
	}
	clone := filepath.Join(t.TempDir(), "vfs")
	if out, err := exec.Command("git", "clone", "-q", "..", clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	example := filepath.Join(publicTempDir(t), "example")
	make := func(target string) string {
		t.Helper()
		cmd := exec.Command("make", "-C", clone, target, "EXAMPLE="+example)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make %s: %v\n%s", target, err, out)
		}
		return string(out)
	}
	if out := make("example"); !strings.Contains(out, "vfsd is serving") {
		t.Fatalf("make example said:\n%s", out)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			exec.Command("make", "-C", clone, "example-stop", "EXAMPLE="+example).Run()
		}
	})
	d := &daemon{mnt: filepath.Join(example, "mnt"), sock: filepath.Join(example, "vfsd.sock"), bin: filepath.Join(clone, "bin")}
	site := startGeneratedNginx(t, d, "--server-name", "site.test", "--preview-domain", "preview.test")
	get := func(path, host string) (int, string) { return getHost(t, &http.Client{}, site+path, host) }
	status, page1 := get("/", "site.test")
	if status != 200 || !strings.Contains(page1, "<html") {
		t.Fatalf("the example site through nginx: %d %q", status, page1)
	}
	// A second version: the page changes and names a new asset.
	v2dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", filepath.Join(clone, "docs/example-site")+"/.", v2dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	os.WriteFile(filepath.Join(v2dir, "index.html"), []byte("<html><body>version 2<script src=\"/assets/app-99999999.js\"></script></body></html>\n"), 0o644)
	os.WriteFile(filepath.Join(v2dir, "assets", "app-99999999.js"), []byte("v2()"), 0o644)
	id2 := strings.TrimSpace(lastLineOf(d.ctl(t, "deploy", v2dir, "--reason", "version 2")))
	if status, body := get("/", "site.test"); status != 200 || !strings.Contains(body, "version 2") {
		t.Fatalf("after deploy: %d %q", status, body)
	}
	for _, asset := range []string{"/assets/app-3f2a1b9c.js", "/assets/app-99999999.js"} {
		if status, _ := get(asset, "site.test"); status != 200 {
			t.Errorf("after deploy, %s: %d (a page loaded before the deploy needs the old one)", asset, status)
		}
	}
	d.ctl(t, "-q", "rollback", "--reason", "back")
	if status, body := get("/", "site.test"); status != 200 || body != page1 {
		t.Errorf("after rollback: %d %q", status, body)
	}
	if status, body := get("/", id2[:12]+".preview.test"); status != 200 || !strings.Contains(body, "version 2") {
		t.Errorf("preview of version 2: %d %q", status, body)
	}
	make("example-stop")
	stopped = true
	if status, _ := get("/", "site.test"); status != 503 {
		t.Errorf("with vfsd stopped: %d, want 503", status)
	}
}

func lastLineOf(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}
