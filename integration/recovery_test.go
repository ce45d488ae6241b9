package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// docs/operations.md, Recovery, "Damaged store index", step by step: a
// byte changed in MANIFEST, or in a table's index, keeps vfsd from starting
// with a message that says how to recover, verify exits 5, and restoring
// the last backup into a new directory brings the site back.
func TestRecoveryFromADamagedIndex(t *testing.T) {
	for _, file := range []string{"MANIFEST", "*.sst"} {
		t.Run(file, func(t *testing.T) { recoverFromDamaged(t, file) })
	}
}

func recoverFromDamaged(t *testing.T, file string) {
	d := startDaemon(t)
	site := writeSite(t, map[string][]byte{"index.html": []byte("backed up")})
	d.ctl(t, "-q", "activate", d.importDir(t, site))
	backup := filepath.Join(t.TempDir(), "vfs.badger")
	d.ctl(t, "-q", "backup", backup)
	d.stop(t)

	found, _ := filepath.Glob(filepath.Join(d.store, file))
	if len(found) == 0 {
		t.Fatalf("no %s in the store", file)
	}
	damaged := found[0]
	b, err := os.ReadFile(damaged)
	if err != nil {
		t.Fatal(err)
	}
	if file == "MANIFEST" {
		b[len(b)/2] ^= 0xff
	} else {
		b[len(b)-100] ^= 0xff // in the table's index, near its end
	}
	os.WriteFile(damaged, b, 0o600)

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
		t.Fatalf("vfsd started on a store whose %s is damaged", file)
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

// dirBytes adds up the blocks a directory's files occupy.
func dirBytes(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Sys().(*syscall.Stat_t).Blocks * 512
		}
		return nil
	})
	return n
}

// kill -9 during a large import through the socket: what the import wrote
// is reclaimed by the next gc (on b1a963c, 193 of 287 MiB stayed for good
// and gc deleted nothing).
func TestKilledImportIsReclaimed(t *testing.T) {
	d := startDaemon(t)
	files := map[string][]byte{}
	for i := 0; i < 12; i++ {
		files[fmt.Sprintf("f%02d.bin", i)] = randomBytes(12<<20, int64(i))
	}
	site := writeSite(t, files)
	imp := exec.Command(filepath.Join(binDir, "vfsctl"), "-q", "--socket", d.sock, "snapshot", "import", site)
	imp.Start()
	deadline := time.Now().Add(60 * time.Second)
	for dirBytes(d.store) < 48<<20 {
		if time.Now().After(deadline) {
			t.Fatal("the import never wrote 48 MiB")
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.kill(t)
	imp.Wait()
	before := dirBytes(d.store)
	d.start(t)
	out := d.ctl(t, "gc")
	after := dirBytes(d.store)
	if after > before/4 {
		t.Fatalf("after gc the store holds %d of %d MiB: %s", after>>20, before>>20, out)
	}
	t.Logf("store %d MiB after the kill, %d MiB after gc: %s", before>>20, after>>20, strings.TrimSpace(out))
}
