package fs

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/vfs-project/vfs/store"
)

// CurrentRef is the ref served at /current.
const CurrentRef = "current"

// FS is the state the nodes share: the source, the refs as last activated,
// and the table that gives each file content its inode number.
type FS struct {
	src     Source
	log     *slog.Logger
	timeout time.Duration

	refs atomic.Pointer[map[string]target]
	// refInodes remembers, per ref, the directory inode handed out for
	// its current target, so repeated lookups return the same one until
	// the next activation.
	refMu     sync.Mutex
	refInodes map[refSlot]refInode

	inoMu   sync.Mutex
	inos    map[fileKey]uint64
	nextIno uint64

	root     *rootNode
	notifier *notifier
}

// target is what a ref points at; gen changes with every activation, even
// one that re-activates the same snapshot.
type target struct {
	id  store.Ref
	gen uint64
}

// refSlot is one place a ref is shown: /current, or /refs/<name>. Each
// has its own directory inode: the kernel keeps one dentry per directory.
type refSlot struct {
	name     string
	underRef bool
}

type refInode struct {
	gen   uint64
	inode *fusefs.Inode
}

// fileKey identifies a file inode: content and permission bits, so that two
// paths with the same content but other modes do not share attributes.
type fileKey struct {
	ref  store.Ref
	perm uint32
}

// New builds the file system over src. It reads the refs once; later
// changes arrive through Retarget.
func New(src Source, log *slog.Logger, timeout time.Duration) (*FS, error) {
	refs, err := src.NamedRefs()
	if err != nil {
		return nil, err
	}
	f := &FS{src: src, log: log, timeout: timeout, refInodes: map[refSlot]refInode{}, inos: map[fileKey]uint64{}, nextIno: 2}
	m := map[string]target{}
	for name, id := range refs {
		m[name] = target{id: id, gen: 1}
	}
	f.refs.Store(&m)
	f.root = &rootNode{fs: f}
	return f, nil
}

// Root is the node to mount.
func (f *FS) Root() fusefs.InodeEmbedder { return f.root }

// fileIno returns the inode number of a content with these permissions,
// allocating from a sequence: never a truncated hash, which could give two
// contents one inode and serve the wrong bytes.
func (f *FS) fileIno(ref store.Ref, perm uint32) uint64 {
	f.inoMu.Lock()
	defer f.inoMu.Unlock()
	k := fileKey{ref, perm}
	if ino, ok := f.inos[k]; ok {
		return ino
	}
	ino := f.nextIno
	f.nextIno++
	f.inos[k] = ino
	return ino
}

// refTarget returns what ref name points at.
func (f *FS) refTarget(name string) (target, bool) {
	t, ok := (*f.refs.Load())[name]
	return t, ok
}

// refDir returns the directory inode for a ref's current target: the same
// inode until the ref moves, then a fresh one, so that walks already inside
// the old one stay in the old snapshot.
func (f *FS) refDir(ctx context.Context, parent *fusefs.Inode, slot refSlot, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	f.refMu.Lock()
	defer f.refMu.Unlock()
	t, ok := f.refTarget(slot.name)
	if !ok {
		return nil, syscall.ENOENT
	}
	if ri, ok := f.refInodes[slot]; ok && ri.gen == t.gen {
		ri.inode.Operations().(*dirNode).fill(&out.Attr)
		return ri.inode, 0
	}
	d, errno := f.snapshotDir(t.id)
	if errno != 0 {
		return nil, errno
	}
	in := parent.NewInode(ctx, d, fusefs.StableAttr{Mode: syscall.S_IFDIR})
	f.refInodes[slot] = refInode{gen: t.gen, inode: in}
	d.fill(&out.Attr)
	return in, 0
}

// Retarget records that ref name now points at id and invalidates the
// kernel's entries for /current (when name is current) and /refs/<name>.
// It returns once the kernel has dropped them, so every path walk that
// starts after it resolves the new target. It must not be called from a
// FUSE request handler (see notifier).
func (f *FS) Retarget(name string, id store.Ref) {
	f.refMu.Lock()
	old := *f.refs.Load()
	m := make(map[string]target, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[name] = target{id: id, gen: old[name].gen + 1}
	f.refs.Store(&m)
	f.refMu.Unlock()
	if name == CurrentRef {
		f.notifier.entry(f.root.EmbeddedInode(), CurrentRef)
	}
	f.notifier.entry(f.root.refs, name)
}

// Forget invalidates /snapshots/<id> after the snapshot was removed.
func (f *FS) Forget(id store.Ref) {
	f.notifier.entry(f.root.snapshots, id.String())
}

// snapshotDir makes the root directory node of snapshot id.
func (f *FS) snapshotDir(id store.Ref) (*dirNode, syscall.Errno) {
	info, err := f.src.Snapshot(id)
	if err != nil {
		return nil, toErrno(f.log, "snapshot "+id.Short(), err)
	}
	return &dirNode{fs: f, ref: id, mode: 0o755, mtime: info.Created.Unix()}, 0
}
