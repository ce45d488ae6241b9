package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds vfsd and vfsctl, built once by TestMain.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vfs-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755) // tests run vfsctl as an unprivileged user too
	build := exec.Command("go", "build", "-o", dir+"/", "../cmd/vfsd", "../cmd/vfsctl")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// daemon is a vfsd process on a temporary store and mount.
type daemon struct {
	dir, store, mnt, sock string
	args                  []string // extra vfsd flags
	bin                   string   // where vfsd and vfsctl are; binDir when empty
	env                   []string // extra environment
	cmd                   *exec.Cmd
	log                   *syncBuffer
}

// syncBuffer is the daemon's log: written by exec's copying goroutine, read
// by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// publicTempDir is a t.TempDir that other users (nginx's and Apache's
// workers run as www-data) can traverse.
func publicTempDir(t testing.TB) string {
	dir := t.TempDir()
	for p := dir; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	return dir
}

// startDaemon starts vfsd and waits until it is ready (its socket answers
// status); it is stopped with SIGTERM when the test ends, and a daemon that
// does not exit cleanly fails the test.
func startDaemon(t testing.TB, args ...string) *daemon {
	t.Helper()
	return startDaemonOn(t, "", args...)
}

// startDaemonOn is startDaemon with the store in directory store (empty:
// in the daemon's own temporary directory).
func startDaemonOn(t testing.TB, store string, args ...string) *daemon {
	t.Helper()
	if os.Getuid() != 0 {
		missing(t, "vfsd mounts with mount(2): run as root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		missing(t, "no /dev/fuse")
	}
	dir := publicTempDir(t)
	if store == "" {
		store = filepath.Join(dir, "store")
	}
	d := &daemon{dir: dir, store: store, mnt: filepath.Join(dir, "mnt"), sock: filepath.Join(dir, "vfsd.sock"), args: args}
	os.Mkdir(d.mnt, 0o755)
	d.start(t)
	t.Cleanup(func() { d.stop(t) })
	return d
}

func (d *daemon) start(t testing.TB) {
	t.Helper()
	d.log = &syncBuffer{}
	d.cmd = exec.Command(filepath.Join(d.binDir(), "vfsd"), append([]string{"--store", d.store, "--mount", d.mnt, "--socket", d.sock}, d.args...)...)
	d.cmd.Stderr = d.log
	d.cmd.Env = append(os.Environ(), d.env...)
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, _, err := d.try("status"); err == nil {
			return
		}
		if time.Now().After(deadline) || d.cmd.ProcessState != nil {
			t.Fatalf("vfsd did not become ready:\n%s", d.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *daemon) binDir() string {
	if d.bin != "" {
		return d.bin
	}
	return binDir
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemon) stop(t testing.TB) {
	t.Helper()
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("vfsd exited with %v:\n%s", err, d.log)
		}
	case <-time.After(60 * time.Second):
		d.cmd.Process.Kill()
		t.Errorf("vfsd did not stop within 60s:\n%s", d.log)
	}
	d.cmd = nil
}

// kill ends vfsd with SIGKILL, leaving its mount stale.
func (d *daemon) kill(t testing.TB) {
	d.cmd.Process.Kill()
	d.cmd.Wait()
	d.cmd = nil
}

// try runs vfsctl through the daemon's socket.
func (d *daemon) try(args ...string) (string, string, error) {
	cmd := exec.Command(filepath.Join(d.binDir(), "vfsctl"), append([]string{"--socket", d.sock}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// ctl runs vfsctl through the socket and fails the test if it fails.
func (d *daemon) ctl(t testing.TB, args ...string) string {
	t.Helper()
	out, errb, err := d.try(args...)
	if err != nil {
		t.Fatalf("vfsctl %v: %v\n%s", args, err, errb)
	}
	return out
}

// importDir imports dir through the daemon and returns the snapshot id.
func (d *daemon) importDir(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out := d.ctl(t, append([]string{"-q", "snapshot", "import", dir}, args...)...)
	return strings.TrimSpace(out)
}

// fdCount counts the daemon's open file descriptors.
func (d *daemon) fdCount(t testing.TB) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", d.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// writeSite writes files (path -> content) into a new directory.
func writeSite(t testing.TB, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, c, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fds lists where the daemon's file descriptors point, for messages.
func (d *daemon) fds(t testing.TB) string {
	dir := fmt.Sprintf("/proc/%d/fd", d.cmd.Process.Pid)
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		target, _ := os.Readlink(filepath.Join(dir, e.Name()))
		out = append(out, e.Name()+"->"+target)
	}
	return strings.Join(out, " ")
}
