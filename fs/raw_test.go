package fs

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// rawFS drives the node tree through go-fuse's bridge, as the kernel
// would, with no mount: no root, no /dev/fuse, no kernel caches. It
// tests what the nodes answer; the mounted tests test what the kernel
// then does with it.
type rawFS struct {
	t  *testing.T
	fs fuse.RawFileSystem
}

func newRawFS(t *testing.T, f *FS) *rawFS {
	hour := time.Hour
	return &rawFS{t: t, fs: fusefs.NewNodeFS(f.Root(), &fusefs.Options{EntryTimeout: &hour, AttrTimeout: &hour})}
}

// lookup walks path from the root and returns the last entry's
// attributes, or the status that stopped the walk.
func (r *rawFS) lookup(path string) (fuse.Attr, fuse.Status) {
	node := uint64(1)
	var out fuse.EntryOut
	for _, name := range strings.Split(path, "/") {
		out = fuse.EntryOut{}
		st := r.fs.Lookup(nil, &fuse.InHeader{NodeId: node}, name, &out)
		if st != fuse.OK {
			return fuse.Attr{}, st
		}
		node = out.NodeId
	}
	return out.Attr, fuse.OK
}

// Node logic without a mount: the tree of /current and /snapshots, /a/
// modes that follow the snapshots' (a content no snapshot makes readable
// by others is 0600 there), and /at/ of a snapshot since pruned.
func TestNodesWithoutAMount(t *testing.T) {
	st := newStore(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("v1"), 0o644)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("password=hunter2"), 0o600)
	res, err := snapshot.ImportDir(t.Context(), st, dir, snapshot.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v1 := res.Snapshot.ID
	v2 := importFiles(t, st, map[string]string{"index.html": "v2"})
	if _, err := snapshot.Activate(st, CurrentRef, v1, snapshot.Who{}, ""); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	time.Sleep(2 * time.Millisecond)
	if _, err := snapshot.Activate(st, CurrentRef, v2, snapshot.Who{}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := snapshot.Prune(st, snapshot.Policy{KeepLast: 1}, false, time.Now(), snapshot.Who{}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := New(st, Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r := newRawFS(t, f)
	if a, st := r.lookup("current/index.html"); st != fuse.OK || a.Size != 2 || a.Mode&0o777 != 0o644 {
		t.Errorf("current/index.html: %v mode %o size %d", st, a.Mode&0o777, a.Size)
	}
	if _, st := r.lookup("snapshots/" + v2.String() + "/index.html"); st != fuse.OK {
		t.Errorf("snapshots/<v2>/index.html: %v", st)
	}
	secret := store.Sum([]byte("password=hunter2"))
	if a, st := r.lookup("a/" + secret.String()); st != fuse.OK || a.Mode&0o777 != 0o600 {
		t.Errorf("a/<secret>: %v mode %o, want 0600", st, a.Mode&0o777)
	}
	if a, st := r.lookup("a/" + store.Sum([]byte("v2")).String() + ".html"); st != fuse.OK || a.Mode&0o777 != 0o644 {
		t.Errorf("a/<public>: %v mode %o, want 0644", st, a.Mode&0o777)
	}
	if _, st := r.lookup("at/" + t1.UTC().Format(time.RFC3339Nano) + "/index.html"); st != fuse.Status(syscall.ENOENT) {
		t.Errorf("at/ of a pruned snapshot: %v, want ENOENT", st)
	}
	if _, st := r.lookup("at/" + time.Now().UTC().Format(time.RFC3339Nano) + "/index.html"); st != fuse.OK {
		t.Errorf("at/ now: %v", st)
	}
}
