package fs

import (
	"context"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/vfs-project/vfs/store"
)

// fileNode is one content with one set of permission bits, wherever it
// appears: every path to it shares the inode and so the page cache.
type fileNode struct {
	fusefs.Inode
	fs   *FS
	rec  *store.FileRecord
	perm uint32
	ino  uint64
}

// fileInode returns the shared inode for a file entry.
func (f *FS) fileInode(ctx context.Context, parent *fusefs.Inode, e store.Entry, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	rec, err := f.src.File(e.Ref)
	if err != nil {
		return nil, toErrno(f.log, "file "+e.Ref.Short(), err)
	}
	perm := uint32(e.Mode.Perm())
	n := &fileNode{fs: f, rec: rec, perm: perm, ino: f.fileIno(e.Ref, perm)}
	// NewInode returns the existing inode when one has this StableAttr.
	in := parent.NewInode(ctx, n, fusefs.StableAttr{Mode: syscall.S_IFREG, Ino: n.ino})
	if in.Operations() == fusefs.InodeEmbedder(n) {
		f.liveAdd(e.Ref, 1) // a new kernel inode: live until OnForget
	}
	in.Operations().(*fileNode).fill(&out.Attr)
	return in, 0
}

// OnForget: the kernel dropped the inode, so no process has it open.
func (n *fileNode) OnForget() { n.fs.liveAdd(n.rec.Ref, -1) }

func (f *FS) liveAdd(ref store.Ref, d int) {
	f.liveMu.Lock()
	defer f.liveMu.Unlock()
	if f.live[ref] += d; f.live[ref] <= 0 {
		delete(f.live, ref)
	}
}

// LiveFiles lists the contents the kernel still holds inodes for: files
// that may be open, whose chunks GC must keep even when no snapshot names
// them any more.
func (f *FS) LiveFiles() []store.Ref {
	f.liveMu.Lock()
	defer f.liveMu.Unlock()
	out := make([]store.Ref, 0, len(f.live))
	for r := range f.live {
		out = append(out, r)
	}
	return out
}

func (n *fileNode) fill(a *fuse.Attr) {
	a.Ino = n.ino
	a.Mode = syscall.S_IFREG | n.perm
	a.Size = n.rec.Size
	a.Blocks = (n.rec.Size + 511) / 512
	a.Blksize = store.ChunkSize
	a.Nlink = 1
	// The mtime belongs to the content (docs/format.md), so web servers'
	// validators are the same on every path and in every snapshot.
	m := uint64(n.rec.MTime)
	a.Mtime, a.Ctime, a.Atime = m, m, m
}

func (n *fileNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	defer n.fs.observe("getattr", time.Now())
	n.fill(&out.Attr)
	return 0
}

// Open answers ENOSYS: the kernel then treats every later open as
// successful without asking, sends no RELEASE, and keeps the page cache.
// Measured on this kind of machine, that takes nginx from about 10% to
// about 97% of native small-file throughput (../NOTES).
func (n *fileNode) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	return nil, 0, syscall.ENOSYS
}

// Flush answers ENOSYS for the same reason: the kernel stops sending it.
func (n *fileNode) Flush(ctx context.Context, fh fusefs.FileHandle) syscall.Errno {
	return syscall.ENOSYS
}

// Read serves bytes verified against their chunk's hash; fh is nil (no
// opens). dest is go-fuse's buffer: the store copies into it.
func (n *fileNode) Read(ctx context.Context, fh fusefs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	defer n.fs.observe("read", time.Now())
	got, err := n.fs.src.ReadAt(n.rec, dest, off)
	if err != nil {
		return nil, toErrno(n.fs.log, "read "+n.rec.Ref.Short(), err)
	}
	n.fs.metrics.ReadBytes(got)
	return fuse.ReadResultData(dest[:got]), 0
}
