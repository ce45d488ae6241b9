package fs

import (
	"context"
	"path"
	"sync"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// A layer is one snapshot's tree at a directory's path. The first layer of
// a directory under a ref is the active snapshot's; the others are the
// snapshots the ref served before, newest first, each until its grace
// window ends.
type layer struct {
	ref   store.Ref
	until time.Time // zero: never expires
	snap  store.Ref // the snapshot this tree belongs to
	depth int       // how many activations back the ref served snap (0: active)
}

// dirNode is a directory bound to fixed trees: it never reads a ref. Under
// /snapshots it has exactly one layer. Under /current and /refs/<name> a
// name missing from the active snapshot is looked up in the older layers,
// for assets only (asset carry-over); listings show only the active one.
type dirNode struct {
	fusefs.Inode
	fs     *FS
	path   string // below the snapshot root, without a leading slash
	layers []layer
	active bool // layers[0] belongs to the active (or exact) snapshot
	mode   uint32
	mtime  int64 // the snapshot's creation time: directories have no content mtime
}

func newDirNode(f *FS, path string, layers []layer, active bool, mode uint32, mtime int64) *dirNode {
	return &dirNode{fs: f, path: path, layers: layers, active: active, mode: mode, mtime: mtime}
}

// tree returns layer i's tree, read and verified through the shared
// cache (fs/trees.go): a directory node does not own its trees.
func (d *dirNode) tree(i int) (*store.Tree, error) {
	return d.fs.trees.get(d.layers[i].ref)
}

func (d *dirNode) fill(a *fuse.Attr) {
	a.Mode = syscall.S_IFDIR | d.mode
	a.Nlink = 2
	a.Mtime, a.Ctime, a.Atime = uint64(d.mtime), uint64(d.mtime), uint64(d.mtime)
}

func (d *dirNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.fill(&out.Attr)
	return 0
}

func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	defer d.fs.observe("lookup", time.Now())
	p := name
	if d.path != "" {
		p = d.path + "/" + name
	}
	f, errno := d.find(name, p)
	if errno == syscall.ENOENT {
		// app.js.gz beside app.js: the content's variant, unless the
		// site ships a file of that name (found above, it wins).
		if base, enc, ok := store.VariantName(name); ok {
			if b, errno := d.find(base, path.Join(d.path, base)); errno == 0 && len(b.sub) == 0 && b.e.Kind == store.KindFile {
				return d.variant(ctx, b, name, enc, out)
			}
		}
	}
	if errno != 0 {
		return nil, errno
	}
	if len(f.sub) > 0 {
		return d.subdir(ctx, name, p, f.sub, f.subActive, f.subMode, out), 0
	}
	if f.carried {
		d.fs.metrics.CarriedOver(f.depth)
	}
	return d.leaf(ctx, f.e, out, f.until)
}

// found is what a name is in a directory's layers: a directory (sub, its
// layers) or a leaf entry, carried over from an older snapshot until
// until.
type found struct {
	e         store.Entry
	until     time.Time
	carried   bool
	depth     int
	sub       []layer
	subActive bool
	subMode   uint32
}

// find looks name (at path p) up in the layers: entries come from the
// active snapshot, assets also from older ones within their window.
func (d *dirNode) find(name, p string) (found, syscall.Errno) {
	now := time.Now()
	f := found{subMode: 0o755}
	for i, l := range d.layers {
		primary := d.active && i == 0
		if !primary && !l.until.After(now) {
			continue // its grace window is over
		}
		t, err := d.tree(i)
		if err != nil {
			if primary {
				return f, toErrno(d.fs.log, "tree "+l.ref.Short(), err)
			}
			continue // an older snapshot may have been pruned
		}
		e, ok := t.Lookup(name)
		switch {
		case !ok:
			continue
		case e.Kind == store.KindDir:
			if len(f.sub) == 0 {
				f.subActive, f.subMode = primary, uint32(e.Mode.Perm())
			}
			f.sub = append(f.sub, layer{ref: e.Ref, until: l.until, snap: l.snap, depth: l.depth})
			continue
		case len(f.sub) > 0:
			continue // a newer layer has a directory by this name
		case primary:
			f.e = e
			return f, 0
		case e.Kind != store.KindFile:
			// Carry-over serves files only: a symlink resolves only in
			// the active snapshot, which store.CheckSnapshot relies on.
			continue
		case d.fs.classes().Classify(p) != snapshot.Asset:
			return f, syscall.ENOENT // entries come only from the active snapshot
		case d.fs.purged(e.Ref):
			continue
		}
		f.e, f.until, f.carried, f.depth = e, l.until, true, l.depth
		return f, 0
	}
	if len(f.sub) == 0 {
		return f, syscall.ENOENT
	}
	return f, 0
}

// variant returns the inode of base's variant in enc, called name: the
// content's mode, a validator of its own (docs/format.md). A content
// without one has no such name.
func (d *dirNode) variant(ctx context.Context, base found, name string, enc store.Encoding, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	ref, ok, err := d.fs.src.Variant(base.e.Ref, enc)
	if err != nil {
		return nil, toErrno(d.fs.log, "variant of "+base.e.Ref.Short(), err)
	}
	if !ok {
		return nil, syscall.ENOENT
	}
	e := base.e
	e.Name, e.Ref = name, ref
	return d.leaf(ctx, e, out, base.until)
}

// subdir returns the directory node for name, reusing the existing one
// when it has the same layers.
func (d *dirNode) subdir(ctx context.Context, name, p string, sub []layer, active bool, mode uint32, out *fuse.EntryOut) *fusefs.Inode {
	if !active {
		limitEntry(out, sub[0].until)
	}
	d.fs.lru.touch(d.EmbeddedInode(), name)
	if child := d.GetChild(name); child != nil {
		if cd, ok := child.Operations().(*dirNode); ok && sameLayers(cd.layers, sub) && cd.active == active {
			cd.fill(&out.Attr)
			return child
		}
	}
	// Directories get an inode of their own on every path: the kernel
	// keeps one dentry per directory inode.
	cd := newDirNode(d.fs, p, sub, active, mode, d.mtime)
	cd.fill(&out.Attr)
	d.fs.handOut(cd)
	return d.NewInode(ctx, cd, fusefs.StableAttr{Mode: syscall.S_IFDIR})
}

// leaf returns the inode of a file or symlink entry. A carried-over entry
// (until set) may be cached by the kernel only until its window ends.
func (d *dirNode) leaf(ctx context.Context, e store.Entry, out *fuse.EntryOut, until time.Time) (*fusefs.Inode, syscall.Errno) {
	limitEntry(out, until)
	d.fs.lru.touch(d.EmbeddedInode(), e.Name)
	if e.Kind == store.KindSymlink {
		l := &symlinkNode{target: e.Target, mtime: d.mtime}
		l.fill(&out.Attr)
		return d.NewInode(ctx, l, fusefs.StableAttr{Mode: syscall.S_IFLNK}), 0
	}
	return d.fs.fileInode(ctx, d.EmbeddedInode(), e, out)
}

// limitEntry caps the kernel's caching of an entry at until (zero: no cap).
func limitEntry(out *fuse.EntryOut, until time.Time) {
	if until.IsZero() {
		return
	}
	d := time.Until(until)
	if d < time.Second {
		d = time.Second
	}
	out.SetEntryTimeout(d)
	out.SetAttrTimeout(d)
}

func sameLayers(a, b []layer) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// list returns the active snapshot's entries only; a directory that exists
// only in older snapshots lists as empty.
func (d *dirNode) list() ([]fuse.DirEntry, syscall.Errno) {
	defer d.fs.observe("readdir", time.Now())
	if !d.active {
		return nil, 0
	}
	t, err := d.tree(0)
	if err != nil {
		return nil, toErrno(d.fs.log, "tree "+d.layers[0].ref.Short(), err)
	}
	list := make([]fuse.DirEntry, len(t.Entries))
	for i, e := range t.Entries {
		list[i] = fuse.DirEntry{Name: e.Name, Mode: kindMode(e.Kind)}
	}
	return list, 0
}

// OpendirHandle answers OPENDIR with FOPEN_CACHE_DIR: a directory node is
// bound to fixed trees, so its listing never changes and the kernel may
// keep it (and go-fuse adds FOPEN_KEEP_CACHE, so a later open does not drop
// it). Every listing after the first is then answered by the kernel.
// The kernel still sends OPENDIR for every open; the listing is built only
// when a READDIR reaches the daemon, which after the first is never.
func (d *dirNode) OpendirHandle(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	return &listing{dir: d}, fuse.FOPEN_CACHE_DIR, 0
}

// listing is an open directory: its entries, read at the first READDIR.
// The offsets go-fuse seeks to are entry indices.
type listing struct {
	dir     *dirNode
	mu      sync.Mutex
	loaded  bool
	entries []fuse.DirEntry
	next    int
}

// load reads the entries once. Called with l.mu held; the tree read is
// the directory's own cache after the first (dirNode.tree).
func (l *listing) load() syscall.Errno {
	if l.loaded {
		return 0
	}
	list, errno := l.dir.list()
	if errno == 0 {
		l.entries, l.loaded = list, true
	}
	return errno
}

func (l *listing) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if errno := l.load(); errno != 0 {
		return nil, errno
	}
	if l.next >= len(l.entries) {
		return nil, 0
	}
	e := l.entries[l.next]
	l.next++
	return &e, 0
}

func (l *listing) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	l.mu.Lock()
	defer l.mu.Unlock()
	if errno := l.load(); errno != 0 {
		return errno
	}
	if off > uint64(len(l.entries)) {
		return syscall.EINVAL
	}
	l.next = int(off)
	return 0
}

func (l *listing) Releasedir(ctx context.Context, flags uint32) {}

func kindMode(k store.Kind) uint32 {
	switch k {
	case store.KindDir:
		return syscall.S_IFDIR
	case store.KindSymlink:
		return syscall.S_IFLNK
	}
	return syscall.S_IFREG
}

// symlinkNode is a symlink of a snapshot; import made sure it stays inside.
type symlinkNode struct {
	fusefs.Inode
	target string
	mtime  int64
}

func (l *symlinkNode) fill(a *fuse.Attr) {
	a.Mode = syscall.S_IFLNK | 0o777
	a.Size = uint64(len(l.target))
	a.Nlink = 1
	a.Mtime, a.Ctime, a.Atime = uint64(l.mtime), uint64(l.mtime), uint64(l.mtime)
}

func (l *symlinkNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	l.fill(&out.Attr)
	return 0
}

func (l *symlinkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(l.target), 0
}
