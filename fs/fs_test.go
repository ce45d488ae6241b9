package fs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// testMount mounts src on a temporary directory; the mount is gone when the
// test ends, and a failed unmount fails the test. Every mount in the tests
// goes through here.
func testMount(t *testing.T, src Source) (string, *FS) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := New(src, Config{Logger: log, Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return mountFS(t, f), f
}

// mountFS mounts f: the one place tests mount.
func mountFS(t *testing.T, f *FS) string {
	t.Helper()
	if os.Getuid() != 0 {
		missing(t, "mounting needs root (DirectMount)")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		missing(t, "no /dev/fuse")
	}
	dir := t.TempDir()
	srv, err := Mount(dir, f, MountConfig{AllowOther: true, Timeout: time.Hour, Logger: f.log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(10 * time.Second); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return dir
}

func newStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func importFiles(t *testing.T, st *store.Store, files map[string]string) store.Ref {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644)
	}
	res, err := snapshot.ImportDir(context.Background(), st, dir, snapshot.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Snapshot.ID
}

func activate(t *testing.T, st *store.Store, f *FS, id store.Ref) {
	t.Helper()
	e, err := snapshot.Activate(st, CurrentRef, id, snapshot.Who{}, "test")
	if err != nil {
		t.Fatal(err)
	}
	f.Retarget(CurrentRef, id, e.Seq)
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTreeServesSnapshots(t *testing.T) {
	st := newStore(t)
	big := bytes.Repeat([]byte("0123456789"), store.ChunkSize/3)
	v1 := importFiles(t, st, map[string]string{"index.html": "v1", "assets/app-3f2a1b9c.js": "app()", "big.bin": string(big)})
	mnt, f := testMount(t, st)
	if _, err := os.Stat(filepath.Join(mnt, "current")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("current before any activation: %v", err)
	}
	activate(t, st, f, v1)
	if got := readFile(t, filepath.Join(mnt, "current/index.html")); got != "v1" {
		t.Fatalf("current/index.html = %q", got)
	}
	if got := readFile(t, filepath.Join(mnt, "current/big.bin")); got != string(big) {
		t.Fatal("big.bin differs")
	}
	if got := readFile(t, filepath.Join(mnt, "snapshots", v1.String(), "assets/app-3f2a1b9c.js")); got != "app()" {
		t.Fatalf("snapshots/<id>/assets = %q", got)
	}
	if got := readFile(t, filepath.Join(mnt, "refs/current/index.html")); got != "v1" {
		t.Fatalf("refs/current/index.html = %q", got)
	}
	hash := store.Sum([]byte("app()")).String()
	for _, name := range []string{hash, hash + ".js"} {
		if got := readFile(t, filepath.Join(mnt, "a", name)); got != "app()" {
			t.Fatalf("a/%s = %q", name, got)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(mnt, "snapshots"))
	if len(ents) != 1 || ents[0].Name() != v1.String() {
		t.Fatalf("ls snapshots = %v", ents)
	}
	fi, _ := os.Stat(filepath.Join(mnt, "current/index.html"))
	rec, _ := st.File(store.Sum([]byte("v1")))
	if fi.ModTime().Unix() != rec.MTime || fi.Size() != 2 {
		t.Fatalf("index.html mtime %v size %d, want content mtime %d", fi.ModTime(), fi.Size(), rec.MTime)
	}
}

func TestMountIsReadOnly(t *testing.T) {
	st := newStore(t)
	v1 := importFiles(t, st, map[string]string{"index.html": "v1"})
	mnt, f := testMount(t, st)
	activate(t, st, f, v1)
	checks := map[string]error{
		"create": os.WriteFile(filepath.Join(mnt, "current/new.html"), []byte("x"), 0o644),
		"mkdir":  os.Mkdir(filepath.Join(mnt, "current/d"), 0o755),
		"remove": os.Remove(filepath.Join(mnt, "current/index.html")),
	}
	if fh, err := os.OpenFile(filepath.Join(mnt, "current/index.html"), os.O_WRONLY, 0); err == nil {
		fh.Close()
		t.Error("opened a file for writing")
	} else {
		checks["open for write"] = err
	}
	for op, err := range checks {
		if !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: %v, want EROFS", op, err)
		}
	}
}

func TestActivationIsAtomicForWalks(t *testing.T) {
	st := newStore(t)
	v1 := importFiles(t, st, map[string]string{"index.html": "v1", "same.css": "shared"})
	v2 := importFiles(t, st, map[string]string{"index.html": "v2", "same.css": "shared"})
	mnt, f := testMount(t, st)
	activate(t, st, f, v1)
	old, err := os.Open(filepath.Join(mnt, "current"))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	// While the kernel holds a file (here: open), the same content in the
	// next snapshot is the same inode, and so shares its page cache.
	held, err := os.Open(filepath.Join(mnt, "current/same.css"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	before, _ := held.Stat()
	activate(t, st, f, v2)
	if got := readFile(t, filepath.Join(mnt, "current/index.html")); got != "v2" {
		t.Fatalf("after activation current/index.html = %q", got)
	}
	// A directory opened before the switch stays in its snapshot.
	fd, err := syscall.Openat(int(old.Fd()), "index.html", syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	n, _ := syscall.Read(fd, buf)
	syscall.Close(fd)
	if string(buf[:n]) != "v1" {
		t.Fatalf("old directory handle reads %q, want v1", buf[:n])
	}
	after, _ := os.Stat(filepath.Join(mnt, "current/same.css"))
	if !os.SameFile(before, after) {
		t.Fatal("a file unchanged between snapshots got a new inode (its page cache would be lost)")
	}
	activate(t, st, f, v1) // rollback
	if got := readFile(t, filepath.Join(mnt, "current/index.html")); got != "v1" {
		t.Fatalf("after rollback current/index.html = %q", got)
	}
}

// corruptSource passes everything through but reports one content as damaged,
// as the store does when a chunk no longer matches its hash.
type corruptSource struct {
	Source
	bad store.Ref
}

func (c corruptSource) ReadAt(f *store.FileRecord, p []byte, off int64) (int, error) {
	if f.Ref == c.bad {
		return 0, store.ErrCorrupt
	}
	return c.Source.ReadAt(f, p, off)
}

func TestCorruptionIsEIO(t *testing.T) {
	st := newStore(t)
	v1 := importFiles(t, st, map[string]string{"ok.html": "fine", "bad.html": "damaged"})
	mnt, f := testMount(t, corruptSource{Source: st, bad: store.Sum([]byte("damaged"))})
	activate(t, st, f, v1)
	if _, err := os.ReadFile(filepath.Join(mnt, "current/bad.html")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read of a corrupt file: %v, want EIO", err)
	}
	if got := readFile(t, filepath.Join(mnt, "current/ok.html")); got != "fine" {
		t.Fatalf("ok.html = %q", got)
	}
}

// missing skips a test whose prerequisite is missing, or fails it when
// VFS_REQUIRE_ALL is set (make test and CI set it), as integration/ does.
func missing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("VFS_REQUIRE_ALL") != "" {
		t.Fatalf("prerequisite missing: %s (VFS_REQUIRE_ALL is set)", why)
	}
	t.Skip(why)
}

func TestMountPointChecks(t *testing.T) {
	if os.Getuid() != 0 {
		missing(t, "needs root")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), nil, 0o644)
	st := newStore(t)
	f, _ := New(st, Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if _, err := Mount(dir, f, MountConfig{Logger: slog.Default()}); !errors.Is(err, ErrMountPoint) {
		t.Fatalf("mount on a non-empty directory: %v", err)
	}
	mnt, _ := testMount(t, st)
	f2, _ := New(st, Config{Logger: slog.Default()})
	if _, err := Mount(mnt, f2, MountConfig{Logger: slog.Default()}); !errors.Is(err, ErrMountPoint) {
		t.Fatalf("second mount on a live mount: %v", err)
	}
}

func testMountGrace(t *testing.T, src Source, grace time.Duration) (string, *FS) {
	t.Helper()
	mnt, f := testMount(t, src)
	f.grace = grace
	return mnt, f
}

func TestAssetCarryOver(t *testing.T) {
	st := newStore(t)
	v1 := importFiles(t, st, map[string]string{
		"index.html": "v1", "about.html": "about v1", "assets/app-AAAA1111.js": "old app",
		"_next/static/build1/chunk-x.js": "next 1", "robots.txt": "old robots",
	})
	v2 := importFiles(t, st, map[string]string{"index.html": "v2", "assets/app-BBBB2222.js": "new app"})
	mnt, f := testMountGrace(t, st, 3*time.Second)
	activate(t, st, f, v1)
	activate(t, st, f, v2)
	cur := filepath.Join(mnt, "current")
	if got := readFile(t, filepath.Join(cur, "assets/app-AAAA1111.js")); got != "old app" {
		t.Fatalf("carried-over asset = %q", got)
	}
	if got := readFile(t, filepath.Join(cur, "_next/static/build1/chunk-x.js")); got != "next 1" {
		t.Fatalf("asset in a directory only v1 has = %q", got)
	}
	for _, entry := range []string{"about.html", "robots.txt"} {
		if _, err := os.Stat(filepath.Join(cur, entry)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("entry %s of the old snapshot under current: %v", entry, err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(cur, "assets"))
	if len(ents) != 1 || ents[0].Name() != "app-BBBB2222.js" {
		t.Errorf("ls current/assets = %v, want only v2's", ents)
	}
	exact := filepath.Join(mnt, "snapshots", v2.String(), "assets/app-AAAA1111.js")
	if _, err := os.Stat(exact); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("/snapshots/<v2> fell back: %v", err)
	}
	time.Sleep(4500 * time.Millisecond) // past the grace window and its capped entry timeout
	if _, err := os.Stat(filepath.Join(cur, "assets/app-AAAA1111.js")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("asset still carried over after the grace window: %v", err)
	}
}

func TestPurgeWithdrawsCarriedAndHashedContent(t *testing.T) {
	st := newStore(t)
	secret := "api key = hunter2"
	v1 := importFiles(t, st, map[string]string{"index.html": "v1", "assets/config-AAAA1111.js": secret})
	v2 := importFiles(t, st, map[string]string{"index.html": "v2"})
	mnt, f := testMountGrace(t, st, time.Hour)
	activate(t, st, f, v1)
	activate(t, st, f, v2)
	carried := filepath.Join(mnt, "current/assets/config-AAAA1111.js")
	byHash := filepath.Join(mnt, "a", store.Sum([]byte(secret)).String()+".js")
	for _, p := range []string{carried, byHash} {
		if got := readFile(t, p); got != secret {
			t.Fatalf("%s before purge = %q", p, got)
		}
	}
	ref := store.Sum([]byte(secret))
	if err := st.Purge(store.PurgeRecord{Ref: ref, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	f.Purged(ref)
	for _, p := range []string{carried, byHash} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after purge: %v", p, err)
		}
	}
}

func TestLabelsTimeTravelAndPrefixes(t *testing.T) {
	st := newStore(t)
	v1 := importFiles(t, st, map[string]string{"index.html": "v1"})
	v2 := importFiles(t, st, map[string]string{"index.html": "v2"})
	if err := st.AddLabel(v1, "release-1"); err != nil {
		t.Fatal(err)
	}
	mnt, f := testMount(t, st)
	before := time.Now().UTC()
	time.Sleep(10 * time.Millisecond)
	activate(t, st, f, v1)
	log, _ := st.Log()
	t1 := log[0].Time
	time.Sleep(10 * time.Millisecond)
	activate(t, st, f, v2)
	log, _ = st.Log()
	t2 := log[1].Time
	// Another ref: canary served v2, then v1.
	for _, id := range []store.Ref{v2, v1} {
		e, err := snapshot.Activate(st, "canary", id, snapshot.Who{}, "test")
		if err != nil {
			t.Fatal(err)
		}
		f.Retarget("canary", id, e.Seq)
		time.Sleep(10 * time.Millisecond)
	}
	log, _ = st.Log()
	c1, c2 := log[2].Time, log[3].Time

	want := map[string]string{
		"at/" + c1.Format(time.RFC3339Nano) + "@canary/index.html":                "v2",
		"at/" + c2.Format(time.RFC3339Nano) + "@canary/index.html":                "v1",
		"at/" + c2.Format(time.RFC3339Nano) + "/index.html":                       "v2", // current, meanwhile
		"labels/release-1/index.html":                                             "v1",
		"snapshots/" + v2.Short() + "/index.html":                                 "v2",
		"at/" + t1.Format(time.RFC3339Nano) + "/index.html":                       "v1",
		"at/" + t2.Add(-time.Nanosecond).Format(time.RFC3339Nano) + "/index.html": "v1",
		"at/" + t2.Format(time.RFC3339Nano) + "/index.html":                       "v2",
	}
	for p, w := range want {
		if got := readFile(t, filepath.Join(mnt, p)); got != w {
			t.Errorf("%s = %q, want %q", p, got, w)
		}
	}
	for _, p := range []string{
		"at/" + before.Format(time.RFC3339Nano),                      // before the first activation
		"at/" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339), // the future
		"at/yesterday",
		"at/" + t2.Format(time.RFC3339Nano) + "@canary", // before canary's first activation
		"at/" + t2.Format(time.RFC3339Nano) + "@no ref", // not a ref's name
		"labels/nope",
		"snapshots/" + v2.String()[:11],
	} {
		if _, err := os.Stat(filepath.Join(mnt, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want ENOENT", p, err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(mnt, "labels"))
	if len(ents) != 1 || ents[0].Name() != "release-1" {
		t.Errorf("ls labels = %v", ents)
	}
}
