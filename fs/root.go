package fs

import (
	"context"
	"errors"
	iofs "io/fs"
	"strings"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// rootNode is the mount's top directory.
type rootNode struct {
	fusefs.Inode
	fs *FS
	// The fixed directories, made when the root is mounted.
	refs, snapshots, hashes, labels, at *fusefs.Inode
}

func (r *rootNode) OnAdd(ctx context.Context) {
	dir := fusefs.StableAttr{Mode: syscall.S_IFDIR}
	r.refs = r.NewPersistentInode(ctx, &refsNode{staticDir{fs: r.fs}}, dir)
	r.snapshots = r.NewPersistentInode(ctx, &snapshotsNode{staticDir{fs: r.fs}}, dir)
	r.hashes = r.NewPersistentInode(ctx, &hashNode{staticDir{fs: r.fs}}, dir)
	r.labels = r.NewPersistentInode(ctx, &labelsNode{staticDir{fs: r.fs}}, dir)
	r.at = r.NewPersistentInode(ctx, &atNode{staticDir{fs: r.fs}}, dir)
	r.AddChild("refs", r.refs, false)
	r.AddChild("snapshots", r.snapshots, false)
	r.AddChild("a", r.hashes, false)
	r.AddChild("labels", r.labels, false)
	r.AddChild("at", r.at, false)
}

// fixedDirs are the root's fixed directories, in listing order.
var fixedDirs = []string{"refs", "snapshots", "labels", "at", "a"}

func (r *rootNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	switch name {
	case CurrentRef:
		return r.fs.refDir(ctx, r.EmbeddedInode(), refSlot{name: CurrentRef}, out)
	case "refs", "snapshots", "a", "labels", "at":
		fillStatic(&out.Attr)
		return r.GetChild(name), 0
	}
	return nil, syscall.ENOENT
}

func (r *rootNode) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	var list []fuse.DirEntry
	if _, ok := r.fs.refTarget(CurrentRef); ok {
		list = append(list, fuse.DirEntry{Name: CurrentRef, Mode: syscall.S_IFDIR})
	}
	for _, n := range fixedDirs {
		list = append(list, fuse.DirEntry{Name: n, Mode: syscall.S_IFDIR})
	}
	return fusefs.NewListDirStream(list), 0
}

func (r *rootNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	fillStatic(&out.Attr)
	return 0
}

// Statfs answers df and the stale-mount check a restarting daemon makes.
func (r *rootNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	out.Bsize, out.Frsize, out.NameLen = 4096, 4096, 255
	return 0
}

// fillStatic gives the fixed directories their attributes: read-only.
func fillStatic(a *fuse.Attr) {
	a.Mode = syscall.S_IFDIR | 0o555
	a.Nlink = 2
}

// staticDir is what the fixed directories (/refs, /snapshots, /a) share:
// read-only attributes.
type staticDir struct {
	fusefs.Inode
	fs *FS
}

func (n *staticDir) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	fillStatic(&out.Attr)
	return 0
}

// refsNode is /refs: one directory per ref.
type refsNode struct{ staticDir }

func (n *refsNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return n.fs.refDir(ctx, n.EmbeddedInode(), refSlot{name: name, underRef: true}, out)
}

func (n *refsNode) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	var list []fuse.DirEntry
	for name := range *n.fs.refs.Load() {
		list = append(list, fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR})
	}
	return fusefs.NewListDirStream(list), 0
}

// snapshotsNode is /snapshots: every snapshot by full id.
type snapshotsNode struct{ staticDir }

// Lookup takes a full id, or its first 12 characters (listings show those,
// and a preview host name has room for them).
func (n *snapshotsNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	id, err := store.ParseRef(name)
	if err != nil && len(name) == store.ShortLen {
		id, err = n.fs.byPrefix(name)
	}
	if err != nil {
		return nil, syscall.ENOENT
	}
	return n.fs.exactDir(ctx, n.EmbeddedInode(), name, id, out)
}

func (n *snapshotsNode) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	all, err := n.fs.src.Snapshots()
	if err != nil {
		return nil, toErrno(n.fs.log, "list snapshots", err)
	}
	list := make([]fuse.DirEntry, 0, len(all))
	for _, s := range all {
		list = append(list, fuse.DirEntry{Name: s.ID.String(), Mode: syscall.S_IFDIR})
	}
	return fusefs.NewListDirStream(list), 0
}

// hashNode is /a: any stored file by content hash. Its listing is empty:
// it would name every file of every snapshot.
type hashNode struct{ staticDir }

func (n *hashNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	hash, _, _ := strings.Cut(name, ".") // the extension is for Content-Type only
	ref, err := store.ParseRef(hash)
	if err != nil {
		return nil, syscall.ENOENT
	}
	if n.fs.purged(ref) {
		return nil, syscall.ENOENT
	}
	n.fs.lru.touch(n.EmbeddedInode(), name)
	// No more readable by hash than any snapshot makes it: a secret
	// imported 0600 must not reach the web server's user here.
	mode := iofs.FileMode(0o644)
	if n.fs.src.Private(ref) {
		mode = 0o600
	}
	return n.fs.fileInode(ctx, n.EmbeddedInode(), store.Entry{Name: name, Kind: store.KindFile, Mode: mode, Ref: ref}, out)
}

func (n *hashNode) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	return fusefs.NewListDirStream(nil), 0
}

// labelsNode is /labels: each label's snapshot, exact.
type labelsNode struct{ staticDir }

func (n *labelsNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	id, err := n.fs.src.Label(name)
	if err != nil {
		return nil, toErrno(n.fs.log, "label "+name, err)
	}
	return n.fs.exactDir(ctx, n.EmbeddedInode(), name, id, out)
}

func (n *labelsNode) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	all, err := n.fs.src.Snapshots()
	if err != nil {
		return nil, toErrno(n.fs.log, "list snapshots", err)
	}
	var list []fuse.DirEntry
	for _, s := range all {
		for _, l := range s.Labels {
			list = append(list, fuse.DirEntry{Name: l, Mode: syscall.S_IFDIR})
		}
	}
	return fusefs.NewListDirStream(list), 0
}

// atNode is /at: /at/<RFC 3339 time>/ is the snapshot current served at
// that instant, from the activation log, and /at/<time>@<ref>/ the one
// ref served (a path component of its own: a ref's name cannot shadow a
// directory of the site). An unparseable, future or pre-history time, or
// a name that cannot be a ref, is ENOENT with a log line, never a guess.
type atNode struct{ staticDir }

func (n *atNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	when, ref := name, CurrentRef
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		when, ref = name[:i], name[i+1:]
		if store.CheckLabel(ref) != nil {
			n.fs.log.Info("/at: not a ref", "name", name)
			return nil, syscall.ENOENT
		}
	}
	t, err := snapshot.ParseAt(when)
	if err != nil {
		n.fs.log.Info("/at: not a time", "name", name)
		return nil, syscall.ENOENT
	}
	id, err := snapshot.At(n.fs.src, ref, t, time.Now())
	if errors.Is(err, store.ErrNotFound) {
		n.fs.log.Info("/at: nothing served then", "time", name, "err", err)
		return nil, syscall.ENOENT
	}
	if err != nil {
		return nil, toErrno(n.fs.log, "history", err)
	}
	// A snapshot removed since is ENOENT, logged as removed: what gc
	// left of it must not read as damage.
	if _, err := n.fs.src.Snapshot(id); errors.Is(err, store.ErrRemoved) {
		n.fs.log.Info("/at: the snapshot served then was removed", "time", name, "err", err)
		return nil, syscall.ENOENT
	}
	return n.fs.exactDir(ctx, n.EmbeddedInode(), name, id, out)
}

func (n *atNode) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	return fusefs.NewListDirStream(nil), 0
}
