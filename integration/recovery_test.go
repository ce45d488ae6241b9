package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// docs/operations.md, Recovery, "Damaged store index", step by step: a
// byte changed in MANIFEST keeps vfsd from starting with a message that
// says how to recover, verify exits 5, and restoring the last backup into
// a new directory brings the site back.
func TestRecoveryFromADamagedIndex(t *testing.T) {
	d := startDaemon(t)
	site := writeSite(t, map[string][]byte{"index.html": []byte("backed up")})
	d.ctl(t, "-q", "activate", d.importDir(t, site))
	backup := filepath.Join(t.TempDir(), "vfs.badger")
	d.ctl(t, "-q", "backup", backup)
	d.stop(t)

	manifest := filepath.Join(d.store, "MANIFEST")
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	os.WriteFile(manifest, b, 0o600)

	vfsd := exec.Command(filepath.Join(binDir, "vfsd"), "--store", d.store, "--mount", d.mnt, "--socket", d.sock)
	done := make(chan []byte, 1)
	go func() { out, _ := vfsd.CombinedOutput(); done <- out }()
	select {
	case out := <-done:
		if !strings.Contains(string(out), "restore the last backup") {
			t.Fatalf("vfsd on a damaged store: %s", out)
		}
	case <-time.After(20 * time.Second):
		vfsd.Process.Kill()
		t.Fatal("vfsd started on a store whose MANIFEST is damaged")
	}
	vfsctl := func(args ...string) (string, int) {
		out, err := exec.Command(filepath.Join(binDir, "vfsctl"), args...).CombinedOutput()
		return string(out), exitCode(err)
	}
	if out, code := vfsctl("--store", d.store, "verify"); code != 5 || !strings.Contains(out, "restore") {
		t.Fatalf("verify of the damaged store: exit %d: %s", code, out)
	}
	if err := os.Rename(d.store, d.store+".damaged"); err != nil {
		t.Fatal(err)
	}
	if out, code := vfsctl("--store", d.store, "restore", backup); code != 0 {
		t.Fatalf("restore: exit %d: %s", code, out)
	}
	if out, code := vfsctl("--store", d.store, "verify"); code != 0 {
		t.Fatalf("verify of the restored store: exit %d: %s", code, out)
	}
	d.start(t)
	if got := readMount(t, d, "current/index.html"); got != "backed up" {
		t.Fatalf("after recovery current/index.html = %q", got)
	}
}
