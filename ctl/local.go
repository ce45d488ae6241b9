package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vfs-project/vfs/sign"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// Local serves API from a store this process holds: vfsctl without a
// daemon, and, behind the socket, vfsd itself.
type Local struct {
	st *store.Store
	// Who is recorded in the activation log.
	Who snapshot.Who
	// FS is the daemon's file system, told of every change; nil in
	// vfsctl.
	FS Mount
	// Events hears of activations and collections (metrics); may be nil.
	Events Events
	// Hooks run after each activation (vfsd only).
	Hooks *Hooks
	// Grace is the mount's asset carry-over window (vfsd --grace), which
	// prune must not undercut unforced; zero: no daemon, no check.
	Grace time.Duration
	// ImportLease is how long an import through the socket may stay
	// silent before it is aborted (DefaultImportLease when zero).
	ImportLease time.Duration
	// Cluster is the fleet vfsd belongs to; nil outside one.
	Cluster Cluster
	// Signing, if set, is the signing policy (vfsd --allowed-signers):
	// no snapshot is served without what it asks (signatures.go).
	Signing *sign.Policy
	// Mount is the daemon's mount point, for Status.
	Mount string
	PID   int
}

// forget tells the mount a snapshot went, if there is one.
func (l *Local) forget(id store.Ref) {
	if l.FS != nil {
		l.FS.Forget(id)
	}
}

// NewLocal serves API from st.
func NewLocal(st *store.Store, who snapshot.Who) *Local { return &Local{st: st, Who: who} }

// OpenLocal opens the store in dir for this process; with create, a new
// one is made if dir holds none.
func OpenLocal(dir string, who snapshot.Who, create bool) (*Local, error) {
	st, err := store.Open(dir, store.Options{MustExist: !create})
	if errors.Is(err, store.ErrBusy) {
		return nil, fmt.Errorf("%w (is vfsd running? use --socket)", err)
	}
	if err != nil {
		return nil, err
	}
	return NewLocal(st, who), nil
}

// Store is the store Local serves.
func (l *Local) Store() *store.Store { return l.st }

// as returns a copy of l that records who in the log: one per request of
// the daemon.
func (l *Local) as(who snapshot.Who) *Local {
	c := *l
	c.Who = who
	return &c
}

func (l *Local) Tree(ref store.Ref) (*store.Tree, error)           { return l.st.Tree(ref) }
func (l *Local) File(ref store.Ref) (*store.FileRecord, error)     { return l.st.File(ref) }
func (l *Local) Label(name string) (store.Ref, error)              { return l.st.Label(name) }
func (l *Local) Snapshot(id store.Ref) (store.SnapshotInfo, error) { return l.st.Snapshot(id) }
func (l *Local) Snapshots() ([]store.SnapshotInfo, error)          { return l.st.Snapshots() }
func (l *Local) Log() ([]store.LogEntry, error)                    { return l.st.Log() }
func (l *Local) NamedRefs() (map[string]store.Ref, error)          { return l.st.NamedRefs() }
func (l *Local) Begin() (store.Batch, error)                       { return l.st.Begin() }
func (l *Local) Close() error                                      { return l.st.Close() }

func (l *Local) ReadAt(f *store.FileRecord, p []byte, off int64) (int, error) {
	return l.st.ReadAt(f, p, off)
}

// Activate points ref at id and tells the file system. The snapshot's
// objects must be present; with verify, every chunk is re-hashed first.
func (l *Local) Activate(ctx context.Context, ref string, id store.Ref, reason string, verify bool) (Activation, error) {
	if verify {
		if err := snapshot.Guard(l.st, id, true); err != nil {
			return Activation{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return Activation{}, err
	}
	e, err := snapshot.ActivateThrough(l.st, ref, id, l.Who, reason, l.gate())
	if errors.Is(err, store.ErrUnchanged) {
		return Activation{LogEntry: store.LogEntry{Ref: ref, From: id, To: id}, HookFailures: []string{}, Unchanged: true}, nil
	}
	return l.activated(e, err)
}

// Rollback points ref back at its previous target and tells the file system.
func (l *Local) Rollback(ctx context.Context, ref, reason string) (Activation, error) {
	if err := ctx.Err(); err != nil {
		return Activation{}, err
	}
	return l.activated(snapshot.RollbackThrough(l.st, ref, l.Who, reason, l.gate()))
}

// activated tells the file system, then runs the hooks: by then every new
// request sees the new snapshot.
func (l *Local) activated(e store.LogEntry, err error) (Activation, error) {
	if err != nil {
		return Activation{LogEntry: e}, err
	}
	l.switched(e)
	return Activation{LogEntry: e, HookFailures: l.RunHooks(e)}, nil
}

// switched tells the file system and the metrics of an activation.
func (l *Local) switched(e store.LogEntry) {
	if l.FS != nil {
		l.FS.Retarget(e.Ref, e.To, e.Seq)
	}
	if l.Events != nil {
		l.Events.Activated(e.Ref)
	}
}

// Switch is a cluster member's activation: logged as who (the operator
// who asked the cluster), and without hooks, which the cluster runs with
// RunHooks once the node has reported (never on its readiness path).
// changed is false when ref already pointed at id.
func (l *Local) Switch(ctx context.Context, ref string, id store.Ref, who snapshot.Who, reason string) (store.LogEntry, bool, error) {
	if err := ctx.Err(); err != nil {
		return store.LogEntry{}, false, err
	}
	e, err := snapshot.ActivateThrough(l.st, ref, id, who, reason, l.gate())
	if errors.Is(err, store.ErrUnchanged) {
		return store.LogEntry{Ref: ref, From: id, To: id}, false, nil
	}
	if err != nil {
		return e, false, err
	}
	l.switched(e)
	return e, true, nil
}

// RunHooks runs the post-activation hooks for e (none in vfsctl) and
// returns one message per failure.
func (l *Local) RunHooks(e store.LogEntry) []string {
	if l.Hooks == nil {
		return []string{}
	}
	return append([]string{}, l.Hooks.Run(e)...)
}

// Lookahead tells the mount that id is staged to become ref's target.
func (l *Local) Lookahead(ref string, id store.Ref) {
	if l.FS != nil {
		l.FS.Lookahead(ref, id)
	}
}

// RemoveRef deletes a ref (not current) and tells the file system.
func (l *Local) RemoveRef(ctx context.Context, ref, reason string) (store.LogEntry, error) {
	if err := ctx.Err(); err != nil {
		return store.LogEntry{}, err
	}
	e, err := snapshot.RemoveRef(l.st, ref, l.Who, reason)
	if err == nil && l.FS != nil {
		l.FS.Retarget(ref, store.Ref{}, e.Seq)
	}
	return e, err
}

// RemoveSnapshot deletes a snapshot's record.
func (l *Local) RemoveSnapshot(ctx context.Context, id store.Ref) error {
	err := snapshot.Remove(l.st, id, l.Who)
	if err == nil && l.FS != nil {
		l.FS.Forget(id)
	}
	return err
}

// SetLabel gives snapshot id a label, moving it from another with move.
func (l *Local) SetLabel(ctx context.Context, id store.Ref, label string, move bool) (store.Ref, error) {
	if !move {
		return store.Ref{}, l.st.AddLabel(id, label)
	}
	from, err := l.st.MoveLabel(id, label)
	if err == nil && !from.IsZero() && l.FS != nil {
		l.FS.LabelChanged(label)
	}
	return from, err
}

// RemoveLabel deletes a label.
func (l *Local) RemoveLabel(ctx context.Context, label string) (store.Ref, error) {
	from, err := l.st.RemoveLabel(label)
	if err == nil && l.FS != nil {
		l.FS.LabelChanged(label)
	}
	return from, err
}

// SetPinned pins or unpins snapshot id.
func (l *Local) SetPinned(ctx context.Context, id store.Ref, pinned bool) error {
	return l.st.SetPinned(id, pinned)
}

// VerifySnapshots re-hashes the given snapshots (all when ids is empty).
// Under a signing policy it also checks the signatures of what the refs
// serve (of the snapshots verified).
func (l *Local) VerifySnapshots(ctx context.Context, ids []store.Ref, progress func(snapshot.VerifyProgress)) (*snapshot.Report, error) {
	rep, err := snapshot.Verify(ctx, l.st, ids, progress)
	if err != nil || l.Signing == nil {
		return rep, err
	}
	return rep, l.verifySigned(rep, ids)
}

// Status reports the refs and how many snapshots there are.
func (l *Local) Status(ctx context.Context) (Status, error) {
	all, err := l.st.Snapshots()
	if err != nil {
		return Status{}, err
	}
	refs, err := l.st.NamedRefs()
	return Status{Store: l.st.Dir(), Mount: l.Mount, PID: l.PID, Snapshots: len(all), Bytes: l.st.DiskSize(), Refs: refs, ReadOnly: l.st.ReadOnly()}, err
}

// ClassesSetting is the store setting that holds the asset classes.
const ClassesSetting = "classes"

// Classes returns the store's asset classification patterns.
func (l *Local) Classes(ctx context.Context) (snapshot.Classes, error) {
	var c snapshot.Classes
	err := l.st.Setting(ClassesSetting, &c)
	if errors.Is(err, store.ErrNotFound) {
		return c, nil
	}
	return c, err
}

// SetClasses stores new classification patterns; the mount uses them for
// lookups from then on.
func (l *Local) SetClasses(ctx context.Context, c snapshot.Classes) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := l.st.SetSetting(ClassesSetting, c); err != nil {
		return err
	}
	if l.FS != nil {
		l.FS.SetClasses(c)
	}
	return nil
}

// Policy returns the store's retention policy (DefaultPolicy if unset).
func (l *Local) Policy(ctx context.Context) (snapshot.Policy, error) {
	p := snapshot.DefaultPolicy
	err := l.st.Setting(snapshot.RetentionSetting, &p)
	if errors.Is(err, store.ErrNotFound) {
		return snapshot.DefaultPolicy, nil
	}
	return p, err
}

// SetPolicy stores the retention policy used by default.
func (l *Local) SetPolicy(ctx context.Context, p snapshot.Policy) error {
	if p.KeepLast < 0 || p.KeepWithin < 0 {
		return fmt.Errorf("retention policy: keep_last and keep_within must not be negative: %w", store.ErrInvalid)
	}
	return l.st.SetSetting(snapshot.RetentionSetting, p)
}

// ErrShortRetention: a prune would keep snapshots for less than the
// daemon's grace, removing assets that pages loaded within it still ask
// for.
var ErrShortRetention = fmt.Errorf("keep-within shorter than the grace: %w", store.ErrInvalid)

// Prune applies p and, unless dryRun, removes the snapshots it drops. A
// keep-within shorter than the daemon's grace is refused unless forced.
func (l *Local) Prune(ctx context.Context, p snapshot.Policy, dryRun, force bool) ([]snapshot.Decision, error) {
	if l.Grace > 0 && p.KeepWithin < l.Grace && !dryRun && !force {
		return []snapshot.Decision{}, fmt.Errorf("prune: --keep-within %s is shorter than vfsd's --grace %s: assets of snapshots served within the grace, which pages loaded before a deploy still ask for, would go; give --keep-within %s or more, or --force: %w",
			snapshot.FormatDuration(p.KeepWithin), snapshot.FormatDuration(l.Grace), snapshot.FormatDuration(l.Grace), ErrShortRetention)
	}
	d, err := snapshot.Prune(l.st, p, dryRun, time.Now(), l.Who, l.forget)
	if d == nil {
		d = []snapshot.Decision{}
	}
	return d, err
}

// CollectGarbage removes objects no snapshot references, keeping the
// contents of files the mount still holds, and reclaims disk.
func (l *Local) CollectGarbage(ctx context.Context, progress func(GCProgress)) (store.GCStats, error) {
	var live []store.Ref
	if l.FS != nil {
		live = l.FS.LiveFiles()
	}
	var step func(string)
	if progress != nil {
		step = func(s string) { progress(GCProgress{Step: s}) }
	}
	st, err := l.st.GC(ctx, live, step)
	if err == nil && l.Events != nil {
		l.Events.Collected(st)
	}
	return st, err
}

// PurgeContent withdraws content from /a/ and from asset carry-over.
// target is a content hash, or a path: then every distinct content found
// at that path in any snapshot is purged.
func (l *Local) PurgeContent(ctx context.Context, target, reason string) ([]store.PurgeRecord, error) {
	refs, err := l.purgeTargets(target)
	if err != nil {
		return nil, err
	}
	out := []store.PurgeRecord{}
	for _, r := range refs {
		rec := store.PurgeRecord{Ref: r, Time: time.Now().UTC(), UID: l.Who.UID, PID: l.Who.PID, Reason: reason}
		if len(target) != 2*store.RefSize {
			rec.Path = target
		}
		if err := l.st.Purge(rec); err != nil {
			return out, err
		}
		if l.FS != nil {
			l.FS.Purged(r)
		}
		out = append(out, rec)
	}
	return out, nil
}

func (l *Local) purgeTargets(target string) ([]store.Ref, error) {
	if r, err := store.ParseRef(target); err == nil {
		if ok, err := l.st.HasFile(r); err != nil || !ok {
			return nil, fmt.Errorf("purge %s: no such content: %w", r.Short(), store.ErrNotFound)
		}
		return []store.Ref{r}, nil
	}
	snaps, err := l.st.Snapshots()
	if err != nil {
		return nil, err
	}
	seen := map[store.Ref]bool{}
	var refs []store.Ref
	for _, s := range snaps {
		e, err := snapshot.Lookup(l.st, s.ID, target)
		if err == nil && e.Kind == store.KindFile && !seen[e.Ref] {
			seen[e.Ref] = true
			refs = append(refs, e.Ref)
		}
	}
	if len(refs) == 0 {
		return nil, fmt.Errorf("purge %s: no snapshot has a file there: %w", target, store.ErrNotFound)
	}
	return refs, nil
}

// Backup writes a backup of the whole store to w (store.Restore reads it).
func (l *Local) Backup(ctx context.Context, w io.Writer) error {
	return l.st.Backup(ctxWriter{ctx, w})
}

// ctxWriter fails writes once ctx ends, so that a backup stops when its
// reader goes away.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

var _ API = (*Local)(nil)
