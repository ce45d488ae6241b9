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
	// MaxNodes bounds the names below snapshots and /a/ that the kernel
	// may keep at once (see nodeLRU); 0 leaves it to the kernel.
	MaxNodes int
	// TreeCacheBytes bounds the decoded trees kept for lookups (an
	// estimate of their bytes); 0 means DefaultTreeCacheBytes.
	TreeCacheBytes int
	// Carries, if set, decides at each activation whether ref may still
	// carry assets over from an older snapshot id (vfsd
	// --allowed-signers: not from one without a valid signature).
	Carries func(ref string, id store.Ref) bool
}

// FS is the state the nodes share: the source, the refs as last activated,
// and the table that gives each file content its inode number.
type FS struct {
	src     Source
	log     *slog.Logger
	metrics Metrics
	grace   time.Duration
	carries func(ref string, id store.Ref) bool
	cls     atomic.Pointer[snapshot.Classes]

	refs atomic.Pointer[map[string]target]
	// refInodes remembers, per ref, the directory inode handed out for
	// its current target, so repeated lookups return the same one until
	// the next activation.
	refMu     sync.Mutex
	refInodes map[refSlot]refInode

	// dirs are the directory nodes handed to the kernel and not yet
	// forgotten. go-fuse never merges directories (each gets its own
	// inode), so each is in the kernel from its hand-out to its OnForget.
	// A directory replaced under its name (current after an activation)
	// stays here while the kernel holds it: its open files are found
	// through it.
	dirsMu sync.Mutex
	dirs   map[*dirNode]struct{}

	// inos gives each (content, mode) held by the kernel its inode
	// number; an entry goes when the kernel forgets the inode.
	inoMu   sync.Mutex
	inos    map[fileKey]uint64
	nextIno uint64

	trees    *treeCache
	root     *rootNode
	notifier *notifier
	lru      *nodeLRU // nil: unbounded
}

// target is what a ref points at; gen is the activation log's sequence
// number of the move (0 for what the ref pointed at when the file system
// was built), so a move heard late never undoes a later one.
type target struct {
	id  store.Ref
	gen uint64
	// ahead is a snapshot staged to become the target (a cluster's next
	// release): its assets are served under the ref already, so that a
	// page from a node that flipped first finds them here too. aheadGen
	// counts its changes, so that the ref's directory is built anew.
	ahead    store.Ref
	aheadGen uint64
}

// refSlot is one place a ref is shown: /current, or /refs/<name>. Each
// has its own directory inode: the kernel keeps one dentry per directory.
type refSlot struct {
	name     string
	underRef bool
}

type refInode struct {
	gen, aheadGen uint64
	inode         *fusefs.Inode
}

// fileKey identifies a file inode: content and permission bits, so that two
// paths with the same content but other modes do not share attributes.
type fileKey struct {
	ref  store.Ref
	perm uint32
}

// New builds the file system over src. It reads the refs once; later
// changes arrive through Retarget.
func New(src Source, c Config) (*FS, error) {
	refs, err := src.NamedRefs()
	if err != nil {
		return nil, err
	}
	f := &FS{src: src, log: c.Logger, grace: c.Grace, carries: c.Carries, dirs: map[*dirNode]struct{}{},
		refInodes: map[refSlot]refInode{}, inos: map[fileKey]uint64{}, nextIno: 2}
	f.SetClasses(c.Classes)
	f.trees = newTreeCache(src, c.TreeCacheBytes)
	if c.MaxNodes > 0 {
		f.lru = newNodeLRU(c.MaxNodes)
	}
	f.metrics = c.Metrics
	if f.metrics == nil {
		f.metrics = noMetrics{}
	}
	m := map[string]target{}
	for name, id := range refs {
		m[name] = target{id: id}
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

// forgetIno drops the inode number of k if it is still ino.
func (f *FS) forgetIno(k fileKey, ino uint64) {
	f.inoMu.Lock()
	defer f.inoMu.Unlock()
	if f.inos[k] == ino {
		delete(f.inos, k)
	}
}

// handOut records that directory d is being handed to the kernel.
func (f *FS) handOut(d *dirNode) {
	f.dirsMu.Lock()
	defer f.dirsMu.Unlock()
	f.dirs[d] = struct{}{}
}

// OnForget: the kernel dropped the directory.
func (d *dirNode) OnForget() {
	d.fs.dirsMu.Lock()
	defer d.fs.dirsMu.Unlock()
	delete(d.fs.dirs, d)
}

// heldDirs returns the directories the kernel may hold: the fixed ones and
// every snapshot directory handed out and not forgotten.
func (f *FS) heldDirs() []*fusefs.Inode {
	r := f.root
	out := []*fusefs.Inode{r.EmbeddedInode(), r.refs, r.snapshots, r.hashes, r.labels, r.at}
	f.dirsMu.Lock()
	defer f.dirsMu.Unlock()
	for d := range f.dirs {
		out = append(out, d.EmbeddedInode())
	}
	return out
}

// refTarget returns what ref name points at.
func (f *FS) refTarget(name string) (target, bool) {
	t, ok := (*f.refs.Load())[name]
	return t, ok
}

// refDir returns the directory inode for a ref's current target: the same
// inode until the ref moves, then a fresh one, so that walks already inside
// the old one stay in the old snapshot.
// The store is read (the snapshot record, the activation log) with no lock
// held; refMu only guards the table, and the first directory built for a
// generation wins.
func (f *FS) refDir(ctx context.Context, parent *fusefs.Inode, slot refSlot, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	t, ok := f.refTarget(slot.name)
	if !ok {
		return nil, syscall.ENOENT
	}
	if in := f.refInode(slot, t, out); in != nil {
		return in, 0
	}
	d, errno := f.snapshotDir(t.id, f.layersFor(slot.name, t))
	if errno != 0 {
		return nil, errno
	}
	f.refMu.Lock()
	defer f.refMu.Unlock()
	if ri, ok := f.refInodes[slot]; ok && (ri.gen > t.gen || (ri.gen == t.gen && ri.aheadGen >= t.aheadGen)) {
		d = ri.inode.Operations().(*dirNode)
		f.handOut(d)
		d.fill(&out.Attr)
		return ri.inode, 0
	}
	in := parent.NewInode(ctx, d, fusefs.StableAttr{Mode: syscall.S_IFDIR})
	f.handOut(d)
	f.refInodes[slot] = refInode{gen: t.gen, aheadGen: t.aheadGen, inode: in}
	d.fill(&out.Attr)
	return in, 0
}

// refInode returns the directory already handed out for a slot's
// target t (its generation and lookahead), or nil.
func (f *FS) refInode(slot refSlot, t target, out *fuse.EntryOut) *fusefs.Inode {
	f.refMu.Lock()
	defer f.refMu.Unlock()
	ri, ok := f.refInodes[slot]
	if !ok || ri.gen != t.gen || ri.aheadGen != t.aheadGen {
		return nil
	}
	d := ri.inode.Operations().(*dirNode)
	f.handOut(d) // again: the kernel may have forgotten it since
	d.fill(&out.Attr)
	return ri.inode
}

// Retarget records that ref name now points at id, moved by log entry seq,
// and invalidates the
// kernel's entries for /current (when name is current) and /refs/<name>.
// It returns once the kernel has dropped them, so every path walk that
// starts after it resolves the new target. It must not be called from a
// FUSE request handler (see notifier).
// A zero id means the ref was removed.
func (f *FS) Retarget(name string, id store.Ref, seq uint64) {
	f.refMu.Lock()
	old := *f.refs.Load()
	if cur, ok := old[name]; ok && cur.gen >= seq {
		f.refMu.Unlock()
		return // a later move was heard first
	}
	m := make(map[string]target, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	t := target{id: id, gen: seq}
	if cur, ok := old[name]; ok && cur.ahead != id {
		t.ahead, t.aheadGen = cur.ahead, cur.aheadGen // still to come
	}
	m[name] = t
	if id.IsZero() {
		delete(m, name) // the ref was removed (vfsctl ref rm)
	}
	f.refs.Store(&m)
	f.refMu.Unlock()
	f.invalidateRef(name)
}

// invalidateRef drops the kernel's entries for /current (when name is
// current) and /refs/<name>.
func (f *FS) invalidateRef(name string) {
	if name == CurrentRef {
		f.notifier.entry(f.root.EmbeddedInode(), CurrentRef)
	}
	f.notifier.entry(f.root.refs, name)
}

// Lookahead serves, under ref name, the assets of snapshot id, staged to
// become its target (zero: none): until the flip, the ref's directories
// look up a missing asset there too, after the target itself. Entries
// still come only from the target.
func (f *FS) Lookahead(name string, id store.Ref) {
	f.refMu.Lock()
	old := *f.refs.Load()
	cur, ok := old[name]
	if !ok || cur.ahead == id || (cur.id == id && cur.ahead.IsZero()) {
		f.refMu.Unlock()
		return
	}
	m := make(map[string]target, len(old))
	for k, v := range old {
		m[k] = v
	}
	cur.ahead = id
	cur.aheadGen++
	m[name] = cur
	f.refs.Store(&m)
	f.refMu.Unlock()
	f.invalidateRef(name)
}

// LabelChanged invalidates /labels/NAME after the label moved or went.
func (f *FS) LabelChanged(name string) {
	if f.root.labels != nil {
		f.notifier.entry(f.root.labels, name)
	}
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

// lookaheadWindow bounds how long a staged release's assets are served
// ahead of its flip, should neither the flip nor an abort come.
const lookaheadWindow = 24 * time.Hour

// maxCarried bounds how many older snapshots a ref's directories carry
// assets over from: a site deployed every few minutes within a week's
// grace would otherwise give every lookup of a missing name hundreds of
// trees to try. Pages older than that many deploys lose their assets
// before the grace window ends.
const maxCarried = 16

// layersFor lists the active snapshot of ref name and, newest first, the
// snapshots it served before whose grace window is not over (at most
// maxCarried): the window of a snapshot starts when an activation moved the
// ref away from it. It reads the ref's history index back to the start of
// the window, not the whole log.
func (f *FS) layersFor(name string, t target) []layer {
	id := t.id
	layers := []layer{{ref: id, snap: id}}
	if !t.ahead.IsZero() && t.ahead != id {
		// The staged release comes next: its assets, until the flip
		// (which builds the directory anew) or lookaheadWindow.
		layers = append(layers, layer{ref: t.ahead, until: time.Now().Add(lookaheadWindow), snap: t.ahead, depth: 1})
	}
	base := len(layers)
	if f.grace <= 0 {
		return layers
	}
	now := time.Now()
	seen := map[store.Ref]bool{id: true, t.ahead: true}
	err := f.src.RefHistory(name, now, func(e store.LogEntry) bool {
		until := e.Time.Add(f.grace)
		if !until.After(now) {
			return false // every earlier entry is older still
		}
		if !e.From.IsZero() && !seen[e.From] {
			seen[e.From] = true
			if f.carries != nil && !f.carries(name, e.From) {
				f.log.Warn("asset carry-over: not from this snapshot, which the signing policy no longer allows", "ref", name, "snapshot", e.From.Short())
				return len(layers) <= maxCarried
			}
			layers = append(layers, layer{ref: e.From, until: until, snap: e.From, depth: len(layers)})
		}
		return len(layers) <= maxCarried
	})
	if err != nil {
		f.log.Warn("asset carry-over off for this activation: cannot read the ref's history", "ref", name, "err", err)
		return layers[:base]
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

// Purged invalidates every name under which the kernel may hold content
// ref (through /a/ or carry-over; names in active snapshots too, which
// costs one lookup each), after the store recorded its purge.
func (f *FS) Purged(ref store.Ref) {
	for _, dir := range f.heldDirs() {
		for name, child := range dir.Children() {
			if n, ok := child.Operations().(*fileNode); ok && n.rec.Ref == ref {
				f.notifier.entry(dir, name)
			}
		}
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
	f.lru.touch(parent, name)
	if child := parent.GetChild(name); child != nil {
		if cd, ok := child.Operations().(*dirNode); ok && cd.layers[0].ref == id {
			return child, 0
		}
	}
	f.handOut(d)
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
