package fs

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// CurrentRef is the ref served at /current.
const CurrentRef = "current"

// Config configures the file system.
type Config struct {
	Logger *slog.Logger
	// Grace is how long after a snapshot stops being a ref's target its
	// assets stay reachable under that ref (asset carry-over); 0 disables.
	Grace time.Duration
	// Classes tell assets from entries.
	Classes snapshot.Classes
	// Metrics, if set, receives request counts and latencies.
	Metrics Metrics
}

// FS is the state the nodes share: the source, the refs as last activated,
// and the table that gives each file content its inode number.
type FS struct {
	src     Source
	log     *slog.Logger
	metrics Metrics
	grace   time.Duration
	cls     atomic.Pointer[snapshot.Classes]

	// servedMu guards servedAt: where carried-over and /a/ entries were
	// handed to the kernel, so that a purge can invalidate them.
	servedMu sync.Mutex
	servedAt map[store.Ref][]dentry

	refs atomic.Pointer[map[string]target]
	// refInodes remembers, per ref, the directory inode handed out for
	// its current target, so repeated lookups return the same one until
	// the next activation.
	refMu     sync.Mutex
	refInodes map[refSlot]refInode

	liveMu sync.Mutex
	live   map[store.Ref]int // kernel inodes per content

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

// dentry is a name the kernel may cache in a directory.
type dentry struct {
	parent *fusefs.Inode
	name   string
}

// New builds the file system over src. It reads the refs once; later
// changes arrive through Retarget.
func New(src Source, c Config) (*FS, error) {
	refs, err := src.NamedRefs()
	if err != nil {
		return nil, err
	}
	f := &FS{src: src, log: c.Logger, grace: c.Grace, servedAt: map[store.Ref][]dentry{},
		refInodes: map[refSlot]refInode{}, inos: map[fileKey]uint64{}, nextIno: 2, live: map[store.Ref]int{}}
	f.SetClasses(c.Classes)
	f.metrics = c.Metrics
	if f.metrics == nil {
		f.metrics = noMetrics{}
	}
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
	d, errno := f.snapshotDir(t.id, f.layersFor(slot.name, t.id))
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

// Forget invalidates the names under /snapshots and /labels that lead to
// snapshot id, after it was removed.
func (f *FS) Forget(id store.Ref) {
	for _, dir := range []*fusefs.Inode{f.root.snapshots, f.root.labels} {
		if dir == nil {
			continue
		}
		for name, child := range dir.Children() {
			if d, ok := child.Operations().(*dirNode); ok && d.layers[0].ref == id {
				f.notifier.entry(dir, name)
			}
		}
	}
}

// snapshotDir makes the root directory node of snapshot id, with older
// snapshots' layers for carry-over (none for an exact snapshot).
func (f *FS) snapshotDir(id store.Ref, layers []layer) (*dirNode, syscall.Errno) {
	info, err := f.src.Snapshot(id)
	if err != nil {
		return nil, toErrno(f.log, "snapshot "+id.Short(), err)
	}
	return newDirNode(f, "", layers, true, 0o755, info.Created.Unix()), 0
}

// layersFor lists the active snapshot of ref name and, newest first, the
// snapshots it served before whose grace window is not over: the window
// of a snapshot starts when an activation moved the ref away from it.
func (f *FS) layersFor(name string, id store.Ref) []layer {
	layers := []layer{{ref: id, snap: id}}
	if f.grace <= 0 {
		return layers
	}
	log, err := f.src.Log()
	if err != nil {
		f.log.Warn("asset carry-over off for this activation: cannot read the log", "ref", name, "err", err)
		return layers
	}
	now := time.Now()
	seen := map[store.Ref]bool{id: true}
	for i := len(log) - 1; i >= 0; i-- {
		e := log[i]
		until := e.Time.Add(f.grace)
		if !until.After(now) {
			break // every earlier entry is older still
		}
		if e.Ref != name || e.From.IsZero() || seen[e.From] {
			continue
		}
		seen[e.From] = true
		layers = append(layers, layer{ref: e.From, until: until, snap: e.From})
	}
	return layers
}

// classes returns the classification in force.
func (f *FS) classes() snapshot.Classes { return *f.cls.Load() }

// SetClasses changes how paths are classified, for lookups from now on.
func (f *FS) SetClasses(c snapshot.Classes) { f.cls.Store(&c) }

// purged reports whether content ref was withdrawn; on a store error it
// says yes, so that a withdrawn file is never served by mistake.
func (f *FS) purged(ref store.Ref) bool {
	p, err := f.src.Purged(ref)
	if err != nil {
		f.log.Error("purge check failed: not serving the file", "ref", ref.Short(), "err", err)
		return true
	}
	return p
}

// served remembers that the kernel may cache name in parent for ref.
func (f *FS) served(ref store.Ref, parent *fusefs.Inode, name string) {
	f.servedMu.Lock()
	defer f.servedMu.Unlock()
	for _, d := range f.servedAt[ref] {
		if d.parent == parent && d.name == name {
			return
		}
	}
	f.servedAt[ref] = append(f.servedAt[ref], dentry{parent, name})
}

// Purged invalidates every name under which content ref was served
// through /a/ or carry-over, after the store recorded its purge.
func (f *FS) Purged(ref store.Ref) {
	f.servedMu.Lock()
	names := f.servedAt[ref]
	delete(f.servedAt, ref)
	f.servedMu.Unlock()
	for _, d := range names {
		f.notifier.entry(d.parent, d.name)
	}
}

// exactDir returns the directory of snapshot id under parent's name, with
// no carry-over: the same inode while name keeps meaning id.
func (f *FS) exactDir(ctx context.Context, parent *fusefs.Inode, name string, id store.Ref, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	d, errno := f.snapshotDir(id, []layer{{ref: id, snap: id}})
	if errno != 0 {
		return nil, errno
	}
	d.fill(&out.Attr)
	if child := parent.GetChild(name); child != nil {
		if cd, ok := child.Operations().(*dirNode); ok && cd.layers[0].ref == id {
			return child, 0
		}
	}
	return parent.NewInode(ctx, d, fusefs.StableAttr{Mode: syscall.S_IFDIR}), 0
}

// byPrefix finds the one snapshot whose id starts with prefix.
func (f *FS) byPrefix(prefix string) (store.Ref, error) {
	all, err := f.src.Snapshots()
	if err != nil {
		return store.Ref{}, err
	}
	var found []store.Ref
	for _, s := range all {
		if strings.HasPrefix(s.ID.String(), prefix) {
			found = append(found, s.ID)
		}
	}
	if len(found) != 1 {
		return store.Ref{}, store.ErrNotFound
	}
	return found[0], nil
}
