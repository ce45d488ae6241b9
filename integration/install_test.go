package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// make install puts the binaries, the unit (naming the installed vfsd),
// completions and man pages under DESTDIR and PREFIX, and what it
// installed runs.
func TestMakeInstall(t *testing.T) {
	need(t, "make")
	dest := t.TempDir()
	cmd := exec.Command("make", "-C", "..", "install", "DESTDIR="+dest, "PREFIX=/usr")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, f := range []string{
		"usr/bin/vfsd", "usr/bin/vfsctl", "etc/systemd/system/vfsd.service",
		"usr/share/man/man1/vfsctl.1", "usr/share/man/man1/vfsctl-snapshot-import.1",
		"usr/share/bash-completion/completions/vfsctl", "usr/share/zsh/site-functions/_vfsctl",
		"usr/share/fish/vendor_completions.d/vfsctl.fish",
	} {
		if fi, err := os.Stat(filepath.Join(dest, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	unit, _ := os.ReadFile(filepath.Join(dest, "etc/systemd/system/vfsd.service"))
	if !strings.Contains(string(unit), "ExecStart=/usr/bin/vfsd ") {
		t.Errorf("the unit does not run the installed vfsd:\n%s", unit)
	}
	out, err := exec.Command(filepath.Join(dest, "usr/bin/vfsctl"), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "vfsctl ") {
		t.Errorf("installed vfsctl version: %v %s", err, out)
	}
}

// The Debian package installs, its postinst makes the socket's group, and
// the installed vfsd starts and serves; then it is purged.
func TestDebianPackage(t *testing.T) {
	need(t, "make", "dpkg", "dpkg-deb")
	if os.Getuid() != 0 {
		missing(t, "dpkg -i needs root")
	}
	bin := t.TempDir()
	out, err := exec.Command("make", "-C", "..", "deb", "BIN="+bin).CombinedOutput()
	if err != nil {
		t.Fatalf("make deb: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(bin, "*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb made %v:\n%s", debs, out)
	}
	if out, err := exec.Command("dpkg", "-i", debs[0]).CombinedOutput(); err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("dpkg", "--purge", "vfs").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge: %v\n%s", err, out)
		}
	})
	for _, f := range []string{"/usr/bin/vfsd", "/usr/bin/vfsctl", "/lib/systemd/system/vfsd.service", "/usr/share/man/man1/vfsctl.1"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("after dpkg -i: %v", err)
		}
	}
	if out, err := exec.Command("getent", "group", "vfs-deploy").CombinedOutput(); err != nil {
		t.Errorf("the postinst made no vfs-deploy group: %v %s", err, out)
	}
	dir := publicTempDir(t)
	d := &daemon{dir: dir, store: filepath.Join(dir, "store"), mnt: filepath.Join(dir, "mnt"), sock: filepath.Join(dir, "vfsd.sock"), bin: "/usr/bin"}
	d.start(t)
	defer d.stop(t)
	d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("packaged")}), "--activate")
	if b, err := os.ReadFile(filepath.Join(d.mnt, "current", "index.html")); err != nil || string(b) != "packaged" {
		t.Fatalf("the installed vfsd serves %q %v", b, err)
	}
}
