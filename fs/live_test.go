package fs

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vfs-project/vfs/store"
)

// dropKernelCaches asks the kernel to free unused dentries and inodes, which
// makes it send FORGET for them.
func dropKernelCaches(t *testing.T) {
	t.Helper()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("2"), 0o200); err != nil {
		missing(t, "cannot drop the kernel's caches: "+err.Error())
	}
}

func liveHas(f *FS, ref store.Ref) bool {
	for _, r := range f.LiveFiles() {
		if r == ref {
			return true
		}
	}
	return false
}

// One content reached through several paths is live while the kernel holds
// it, open or not, and stops being live once the kernel forgets every path.
func TestLiveFilesFollowTheKernel(t *testing.T) {
	st := newStore(t)
	id := importFiles(t, st, map[string]string{"a.txt": "shared", "b/a.txt": "shared", "c/a.txt": "shared", "other.txt": "x"})
	mnt, f := testMount(t, st)
	activate(t, st, f, id)
	ref := store.Sum([]byte("shared"))
	for _, p := range []string{"current/a.txt", "current/b/a.txt", "current/c/a.txt", "snapshots/" + id.String() + "/b/a.txt", "a/" + ref.String()} {
		if got := readFile(t, filepath.Join(mnt, p)); got != "shared" {
			t.Fatalf("%s = %q", p, got)
		}
	}
	open, err := os.Open(filepath.Join(mnt, "current/b/a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	// Move current away: the open file's directory is no longer reachable
	// by name, and the file must still count.
	v2 := importFiles(t, st, map[string]string{"index.html": "v2"})
	activate(t, st, f, v2)
	dropKernelCaches(t)
	if !liveHas(f, ref) {
		t.Fatal("a file held open is not live")
	}
	open.Close()
	deadline := time.Now().Add(10 * time.Second)
	for liveHas(f, ref) || inoCount(f) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after the kernel dropped every path: %d contents live, %d inode numbers kept", len(f.LiveFiles()), inoCount(f))
		}
		dropKernelCaches(t)
		time.Sleep(50 * time.Millisecond)
	}
}

func inoCount(f *FS) int {
	f.inoMu.Lock()
	defer f.inoMu.Unlock()
	return len(f.inos)
}

// A ref that moved many times within its grace window carries over from at
// most maxCarried older snapshots.
func TestCarryOverIsBounded(t *testing.T) {
	st := newStore(t)
	mnt, f := testMount(t, st)
	for i := 0; i < maxCarried+8; i++ {
		id := importFiles(t, st, map[string]string{"index.html": string(rune('a' + i))})
		activate(t, st, f, id)
	}
	if _, err := os.Stat(filepath.Join(mnt, "current/index.html")); err != nil {
		t.Fatal(err)
	}
	f.refMu.Lock()
	ri := f.refInodes[refSlot{name: CurrentRef}]
	f.refMu.Unlock()
	if n := len(ri.inode.Operations().(*dirNode).layers); n != maxCarried+1 {
		t.Fatalf("%d layers, want the active snapshot and %d older ones", n, maxCarried)
	}
}

// A move heard late never undoes a later one: concurrent activations may
// reach the file system out of order.
func TestRetargetKeepsTheLatestMove(t *testing.T) {
	st := newStore(t)
	v1 := importFiles(t, st, map[string]string{"index.html": "v1"})
	v2 := importFiles(t, st, map[string]string{"index.html": "v2"})
	mnt, f := testMount(t, st)
	f.Retarget(CurrentRef, v2, 7)
	f.Retarget(CurrentRef, v1, 6)
	if got := readFile(t, filepath.Join(mnt, "current/index.html")); got != "v2" {
		t.Fatalf("current serves %q after moves 7 (v2) then 6 (v1) were heard", got)
	}
}

// countingMetrics counts FUSE requests that reach the daemon, by op.
type countingMetrics struct {
	mu  sync.Mutex
	ops map[string]int
}

func (m *countingMetrics) Op(op string, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ops[op]++
}
func (m *countingMetrics) ReadBytes(int)   {}
func (m *countingMetrics) CarriedOver(int) {}

func (m *countingMetrics) count(op string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ops[op]
}

// A snapshot directory's listing is read from the store once: the kernel
// keeps it (FOPEN_CACHE_DIR), and later listings never reach the daemon.
func TestListingsStayInTheKernel(t *testing.T) {
	st := newStore(t)
	id := importFiles(t, st, map[string]string{"d/a": "1", "d/b": "2", "d/c": "3"})
	m := &countingMetrics{ops: map[string]int{}}
	f, err := New(st, Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	mnt := mountFS(t, f)
	dir := filepath.Join(mnt, "snapshots", id.String(), "d")
	for i := 0; i < 5; i++ {
		ents, err := os.ReadDir(dir)
		if err != nil || len(ents) != 3 {
			t.Fatalf("listing %d: %v, %d entries", i, err, len(ents))
		}
	}
	if n := m.count("readdir"); n != 1 {
		t.Fatalf("five listings read the directory from the store %d times, want 1", n)
	}
}

// With MaxNodes set small, a traversal of many more files leaves the file
// system keeping at most that many nodes once the kernel has dropped the
// names it was told to, and every file still reads correctly afterwards.
func TestNodesAreBounded(t *testing.T) {
	const max, treeBytes = 40, 6000
	st := newStore(t)
	files := map[string]string{}
	for d := 0; d < 15; d++ {
		for i := 0; i < 20; i++ {
			p := fmt.Sprintf("d%02d/f%02d.txt", d, i)
			files[p] = "content of " + p
		}
	}
	id := importFiles(t, st, files)
	f, err := New(st, Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxNodes: max, TreeCacheBytes: treeBytes})
	if err != nil {
		t.Fatal(err)
	}
	mnt := mountFS(t, f)
	activate(t, st, f, id)
	check := func() {
		t.Helper()
		for p, want := range files {
			if got := readFile(t, filepath.Join(mnt, "current", p)); got != want {
				t.Fatalf("%s = %q", p, got)
			}
		}
	}
	check()
	deadline := time.Now().Add(10 * time.Second)
	// The active snapshot's root directory is not a name below a
	// snapshot: it is current itself.
	for f.NodeCount() > max+1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d nodes kept after reading %d files with MaxNodes %d", f.NodeCount(), len(files), max)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Fifteen trees of twenty entries weigh about 30 KB together.
	f.trees.cache.CleanUp()
	if w := f.trees.weight(); w > treeBytes {
		t.Fatalf("decoded trees weigh %d bytes, bound %d", w, treeBytes)
	}
	check()
}

// Listing a snapshot costs no file nodes: READDIRPLUS is off, so the
// kernel learns names without looking them up, and a walk like find's
// (which needs only the entries' types) leaves the daemon with the
// directories alone. With READDIRPLUS, a walk of a million files kept a
// million nodes, and the bound's invalidations dropped the kernel's cached
// listings, so a second walk was as slow as the first.
func TestListingCostsNoFileNodes(t *testing.T) {
	st := newStore(t)
	files := map[string]string{}
	for d := 0; d < 5; d++ {
		for i := 0; i < 50; i++ {
			files[fmt.Sprintf("d%d/f%02d.txt", d, i)] = fmt.Sprint(d, i)
		}
	}
	id := importFiles(t, st, files)
	mnt, f := testMount(t, st)
	var walked int
	err := filepath.WalkDir(filepath.Join(mnt, "snapshots", id.String()), func(p string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			walked++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if walked != len(files) {
		t.Fatalf("walked %d files, want %d", walked, len(files))
	}
	// The snapshot's root and its five directories.
	if n := f.NodeCount(); n > 6 {
		t.Fatalf("a walk over %d files left %d nodes", len(files), n)
	}
}
