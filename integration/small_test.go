package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// vfsd --socket naming a regular file refuses to start and leaves the
// file alone.
func TestSocketPathThatIsAFile(t *testing.T) {
	if os.Getuid() != 0 {
		missing(t, "vfsd mounts with mount(2): run as root")
	}
	dir := publicTempDir(t)
	file := filepath.Join(dir, "notes.txt")
	os.WriteFile(file, []byte("keep me"), 0o644)
	os.Mkdir(filepath.Join(dir, "mnt"), 0o755)
	cmd := exec.Command(filepath.Join(binDir, "vfsd"), "--store", filepath.Join(dir, "store"), "--mount", filepath.Join(dir, "mnt"), "--socket", file)
	var log syncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("vfsd exited 0 with a regular file as its socket")
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Signal(syscall.SIGTERM)
		<-done
		t.Fatal("vfsd started with a regular file as its socket")
	}
	out := log.String()
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Fatalf("the file was replaced: %q\n%s", b, out)
	}
	if !strings.Contains(out, "not a socket") {
		t.Errorf("the error does not say why: %s", out)
	}
}

// A reason holding a newline cannot forge a line of vfsctl log.
func TestReasonCannotForgeALogLine(t *testing.T) {
	d := startDaemon(t)
	id := d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("x")}))
	d.ctl(t, "-q", "activate", id, "--reason", "ok\n99  2026-01-01T00:00:00Z  current  none  forged  root  1  evil")
	out := d.ctl(t, "log")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 {
		t.Fatalf("log printed %d lines for one entry:\n%s", len(lines), out)
	}
}

// A vfsctl waiting on the daemon exits when it gets SIGTERM: here it waits
// on an activation whose hook runs for seconds, and it must be gone before
// the hook is done.
func TestVfsctlExitsWhenInterrupted(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "hook-done")
	d := startDaemon(t, "--hook", "sleep 3; touch "+marker)
	id := d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("x")}))
	cmd := exec.Command(filepath.Join(binDir, "vfsctl"), "--socket", d.sock, "activate", id)
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the daemon is inside the activation (its hook started).
	deadline := time.Now().Add(20 * time.Second)
	for !hookRunning() {
		if time.Now().After(deadline) {
			t.Fatalf("the activation's hook never started:\n%s", d.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if _, serr := os.Stat(marker); serr == nil {
		t.Fatal("vfsctl waited for the hook to finish despite SIGTERM")
	}
	if err == nil || !strings.Contains(errb.String(), "interrupted") {
		t.Fatalf("vfsctl after SIGTERM: %v: %s", err, errb.String())
	}
}

// hookRunning reports whether the test's hook (sh -c "sleep 3; touch ...")
// is running on this machine, from /proc.
func hookRunning() bool {
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		// vfsd's own command line holds the hook too, as an argument.
		if err == nil && bytes.HasPrefix(cmdline, []byte("sh\x00-c\x00sleep 3; touch")) {
			return true
		}
	}
	return false
}

// vfsd makes its mount point if it is missing, and a start that fails
// leaves nothing behind: no store directory, no mount point it made.
func TestStartMakesMountPointAndFailedStartLeavesNothing(t *testing.T) {
	if os.Getuid() != 0 {
		missing(t, "vfsd mounts with mount(2): run as root")
	}
	dir := publicTempDir(t)
	file := filepath.Join(dir, "notes.txt")
	os.WriteFile(file, []byte("keep me"), 0o644)
	store, mnt := filepath.Join(dir, "store"), filepath.Join(dir, "new", "mnt")
	// The socket path is a regular file: the start fails after the store
	// was opened and the mount made.
	out, err := exec.Command(filepath.Join(binDir, "vfsd"), "--store", store, "--mount", mnt, "--socket", file).CombinedOutput()
	if err == nil {
		t.Fatalf("vfsd started with a regular file as its socket:\n%s", out)
	}
	for _, p := range []string{store, filepath.Join(dir, "new")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a failed start left %s behind:\n%s", p, out)
		}
	}
	// With a good socket path it starts, making the mount point.
	d := &daemon{dir: dir, store: store, mnt: mnt, sock: filepath.Join(dir, "vfsd.sock")}
	d.start(t)
	t.Cleanup(func() { d.stop(t) })
	if fi, err := os.Stat(mnt); err != nil || !fi.IsDir() {
		t.Fatalf("mount point: %v", err)
	}
	d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("x")}), "--activate")
	if b, err := os.ReadFile(filepath.Join(mnt, "current", "index.html")); err != nil || string(b) != "x" {
		t.Fatalf("served: %q %v", b, err)
	}
}
