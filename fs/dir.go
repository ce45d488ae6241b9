package fs

import (
	"context"
	"sync"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/vfs-project/vfs/store"
)

// dirNode is a directory of one snapshot. It is bound to its tree ref and
// never changes; the tree is read (and verified) on first use.
type dirNode struct {
	fusefs.Inode
	fs    *FS
	ref   store.Ref
	mode  uint32
	mtime int64 // the snapshot's creation time: directories have no content mtime

	once sync.Once
	tree *store.Tree
	err  error
}

func (d *dirNode) load() (*store.Tree, syscall.Errno) {
	d.once.Do(func() { d.tree, d.err = d.fs.src.Tree(d.ref) })
	if d.err != nil {
		return nil, toErrno(d.fs.log, "tree "+d.ref.Short(), d.err)
	}
	return d.tree, 0
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
	t, errno := d.load()
	if errno != 0 {
		return nil, errno
	}
	e, ok := t.Lookup(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	switch e.Kind {
	case store.KindFile:
		return d.fs.fileInode(ctx, d.EmbeddedInode(), e, out)
	case store.KindSymlink:
		l := &symlinkNode{target: e.Target, mtime: d.mtime}
		l.fill(&out.Attr)
		return d.NewInode(ctx, l, fusefs.StableAttr{Mode: syscall.S_IFLNK}), 0
	}
	if child := d.GetChild(name); child != nil {
		if cd, ok := child.Operations().(*dirNode); ok && cd.ref == e.Ref {
			cd.fill(&out.Attr)
			return child, 0
		}
	}
	// Directories get an inode of their own on every path: the kernel
	// keeps one dentry per directory inode.
	cd := &dirNode{fs: d.fs, ref: e.Ref, mode: uint32(e.Mode.Perm()), mtime: d.mtime}
	cd.fill(&out.Attr)
	return d.NewInode(ctx, cd, fusefs.StableAttr{Mode: syscall.S_IFDIR}), 0
}

func (d *dirNode) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	t, errno := d.load()
	if errno != 0 {
		return nil, errno
	}
	list := make([]fuse.DirEntry, len(t.Entries))
	for i, e := range t.Entries {
		list[i] = fuse.DirEntry{Name: e.Name, Mode: kindMode(e.Kind)}
	}
	return fusefs.NewListDirStream(list), 0
}

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
