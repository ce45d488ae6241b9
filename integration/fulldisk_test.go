package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A store on a full file system (a 64 MiB tmpfs, a 96 MiB import): the
// import fails with "no space left on device" and records nothing, the
// daemon keeps serving, and a daemon started on the full disk serves
// read-only and refuses writes with a reason. On b1a963c vfsd died of
// SIGBUS and left a stale mount.
func TestFullDisk(t *testing.T) {
	if os.Getuid() != 0 {
		missing(t, "mounting a tmpfs needs root")
	}
	small := publicTempDir(t)
	if err := syscall.Mount("tmpfs", small, "tmpfs", 0, "size=64m"); err != nil {
		missing(t, "cannot mount a tmpfs: "+err.Error())
	}
	t.Cleanup(func() { syscall.Unmount(small, syscall.MNT_DETACH) })
	d := startDaemonOn(t, filepath.Join(small, "store"))
	d.ctl(t, "-q", "activate", d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("live")})))
	files := map[string][]byte{}
	for i := 0; i < 4; i++ {
		files[fmt.Sprintf("f%d.bin", i)] = randomBytes(24<<20, int64(i))
	}
	_, errb, err := d.try("-q", "snapshot", "import", writeSite(t, files))
	if err == nil || !strings.Contains(errb, "no space left on device") {
		t.Fatalf("a 96 MiB import into 64 MiB: %v\n%s", err, errb)
	}
	if got := readMount(t, d, "current/index.html"); got != "live" {
		t.Fatalf("after the refused import current serves %q", got)
	}
	if n := len(strings.Split(strings.TrimSpace(d.ctl(t, "snapshot", "list")), "\n")); n != 2 {
		t.Fatalf("the refused import recorded something: %d lines in the list", n)
	}
	d.ctl(t, "verify")
	d.stop(t)

	filler, _ := os.Create(filepath.Join(small, "filler"))
	buf := make([]byte, 1<<20)
	for {
		if _, err := filler.Write(buf); err != nil {
			break
		}
	}
	filler.Close()
	d.start(t)
	if got := readMount(t, d, "current/index.html"); got != "live" {
		t.Fatalf("started on a full disk, current serves %q", got)
	}
	if !strings.Contains(d.log.String(), "read-only") {
		t.Errorf("the daemon did not say it serves read-only:\n%s", d.log)
	}
	_, errb, err = d.try("-q", "snapshot", "label", "current", "v1")
	if err == nil || !strings.Contains(errb, "read-only") {
		t.Fatalf("a write on a store opened read-only: %v\n%s", err, errb)
	}
}
