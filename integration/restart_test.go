package integration

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vfs-project/vfs/store"
)

func readMount(t *testing.T, d *daemon, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.mnt, p))
	if err != nil {
		t.Fatalf("read %s: %v\n%s", p, err, d.log)
	}
	return string(b)
}

// Stopping and starting vfsd keeps /current; after kill -9 the stale mount
// is recovered at the next start and serving resumes.
func TestRestartAndStaleMount(t *testing.T) {
	d := startDaemon(t)
	d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("one")}))
	two := d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("two")}), "--activate")
	d.stop(t)
	d.start(t)
	if got := readMount(t, d, "current/index.html"); got != "two" {
		t.Fatalf("after restart current/index.html = %q", got)
	}
	d.kill(t)
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.mnt, &st); err == nil {
		t.Fatal("mount still answers after kill -9: the test did not make a stale mount")
	}
	d.start(t)
	if got := readMount(t, d, "current/index.html"); got != "two" {
		t.Fatalf("after kill -9 and start, current/index.html = %q", got)
	}
	if !strings.Contains(d.log.String(), "stale mount") {
		t.Errorf("no log line about the stale mount:\n%s", d.log)
	}
	if out := d.ctl(t, "--json", "status"); !strings.Contains(out, two) {
		t.Errorf("status after recovery: %s", out)
	}
}

// The socket is 0660: a user outside its group cannot connect. The
// activation log records the peer's pid as the kernel reports it.
func TestSocketSecurity(t *testing.T) {
	d := startDaemon(t)
	fi, err := os.Stat(d.sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode %v, want srw-rw----", fi.Mode())
	}
	id := d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("x")}))

	nobody := exec.Command(filepath.Join(binDir, "vfsctl"), "--socket", d.sock, "status")
	nobody.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := nobody.CombinedOutput(); err == nil || !strings.Contains(string(out), "permission denied") {
		t.Fatalf("user nobody reached the socket: %v %s", err, out)
	}

	act := exec.Command(filepath.Join(binDir, "vfsctl"), "--socket", d.sock, "-q", "activate", id, "--reason", "audit me")
	if out, err := act.CombinedOutput(); err != nil {
		t.Fatalf("activate: %v %s", err, out)
	}
	var log []store.LogEntry
	if err := json.Unmarshal([]byte(d.ctl(t, "--json", "log")), &log); err != nil || len(log) != 1 {
		t.Fatalf("log: %v %v", log, err)
	}
	if e := log[0]; e.PID != act.Process.Pid || e.UID != 0 || e.User != "root" || e.Reason != "audit me" {
		t.Fatalf("log entry %+v, want pid %d uid 0", e, act.Process.Pid)
	}
}

// An import through the socket reads files in the client: a file the
// client cannot read fails the import even though the daemon could read it.
func TestImportReadsAsTheClient(t *testing.T) {
	d := startDaemon(t)
	site := publicTempDir(t)
	os.WriteFile(filepath.Join(site, "public.html"), []byte("ok"), 0o644)
	os.WriteFile(filepath.Join(site, "secret.txt"), []byte("root only"), 0o600)
	os.Chmod(d.sock, 0o666) // let nobody reach the socket for this test only
	// The daemon checks the peer's credentials too: a mode loosened by
	// mistake lets nobody connect, not act.
	imp := exec.Command(filepath.Join(binDir, "vfsctl"), "--socket", d.sock, "-q", "snapshot", "import", site)
	imp.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := imp.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "uid 65534 is not root and not in group root") {
		t.Fatalf("nobody, outside the socket's group, imported: %v %s", err, out)
	}
	// In the socket's group (a supplementary group, which SO_PEERCRED
	// does not carry), nobody may act, but reads files as itself.
	imp = exec.Command(filepath.Join(binDir, "vfsctl"), "--socket", d.sock, "-q", "snapshot", "import", site)
	imp.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{0}}}
	out, err = imp.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "secret.txt") || !strings.Contains(string(out), "permission denied") {
		t.Fatalf("import of an unreadable file as nobody: %v %s", err, out)
	}
	if list := d.ctl(t, "--json", "snapshot", "list"); !strings.Contains(list, `"snapshots": []`) {
		t.Fatalf("a failed import left a snapshot: %s", list)
	}
}

// Under systemd (Type=notify) vfsd says READY=1 once it serves, and
// STOPPING=1 on SIGTERM.
func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(publicTempDir(t), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	d := startDaemon(t)
	d.stop(t)
	d.env = []string{"NOTIFY_SOCKET=" + sock}
	d.start(t)
	d.stop(t)
	var got []string
	buf := make([]byte, 256)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(got) < 2 {
		n, err := conn.Read(buf)
		if err != nil {
			break
		}
		got = append(got, string(buf[:n]))
	}
	if len(got) != 2 || got[0] != "READY=1" || got[1] != "STOPPING=1" {
		t.Fatalf("notifications %q, want READY=1 then STOPPING=1", got)
	}
}

// A backup taken through the socket while vfsd serves, restored into a new
// store: a daemon on it serves the same site with the same validators.
func TestBackupAndRestore(t *testing.T) {
	d := startDaemon(t)
	id := d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("backed up"), "big.bin": randomBytes(1<<20, 3)}), "--activate")
	backup := filepath.Join(t.TempDir(), "store.backup")
	d.ctl(t, "-q", "backup", backup)
	before, _ := os.Stat(filepath.Join(d.mnt, "current/index.html"))

	r := startDaemon(t)
	r.stop(t)
	os.RemoveAll(r.store)
	restore := exec.Command(filepath.Join(binDir, "vfsctl"), "--store", r.store, "restore", backup)
	if out, err := restore.CombinedOutput(); err != nil || !strings.Contains(string(out), "restored 1 snapshot into") {
		t.Fatalf("restore: %v %s", err, out)
	}
	r.start(t)
	if got := readMount(t, r, "current/index.html"); got != "backed up" {
		t.Fatalf("restored current/index.html = %q", got)
	}
	after, _ := os.Stat(filepath.Join(r.mnt, "current/index.html"))
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("mtime %v after restore, %v before: validators would change", after.ModTime(), before.ModTime())
	}
	if out := r.ctl(t, "verify"); strings.Contains(out, "DAMAGED") {
		t.Errorf("verify after restore: %s", out)
	}
	if !strings.Contains(r.ctl(t, "snapshot", "list"), id[:12]) {
		t.Error("restored store does not list the snapshot")
	}
}
