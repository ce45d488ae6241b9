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
