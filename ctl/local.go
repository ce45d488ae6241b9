package ctl

import (
	"errors"
	"fmt"
	"time"

	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// Local serves API from a store this process holds: vfsctl without a
// daemon, and, behind the socket, vfsd itself.
type Local struct {
	*store.Store
	// Who is recorded in the activation log.
	Who snapshot.Who
	// Hooks tell the daemon's file system what changed; nil in vfsctl.
	// OnRetarget hears of every move of a ref, with its log sequence
	// number, so that moves heard out of order settle on the last.
	OnRetarget func(ref string, id store.Ref, seq uint64)
	OnRemove   func(id store.Ref)
	OnPurge    func(ref store.Ref)
	OnClasses  func(snapshot.Classes)
	// LiveFiles lists contents the mount still holds (GC keeps them).
	LiveFiles func() []store.Ref
	// Hooks run after each activation (vfsd only).
	Hooks *Hooks
	// OnGC hears of every completed collection (metrics).
	OnGC func(store.GCStats)
	// ImportLease is how long an import through the socket may stay
	// silent before it is aborted (DefaultImportLease when zero).
	ImportLease time.Duration
	// Mount is the daemon's mount point, for Status.
	Mount string
	PID   int
}

// OpenLocal opens the store in dir for this process.
func OpenLocal(dir string, who snapshot.Who) (*Local, error) {
	st, err := store.Open(dir, store.Options{})
	if errors.Is(err, store.ErrBusy) {
		return nil, fmt.Errorf("%w (is vfsd running? use --socket)", err)
	}
	if err != nil {
		return nil, err
	}
	return &Local{Store: st, Who: who}, nil
}

// Activate points ref at id and tells the file system. The snapshot's
// objects must be present; with verify, every chunk is re-hashed first.
func (l *Local) Activate(ref string, id store.Ref, reason string, verify bool) (Activation, error) {
	if verify {
		if err := snapshot.Guard(l.Store, id, true); err != nil {
			return Activation{}, err
		}
	}
	e, err := snapshot.Activate(l.Store, ref, id, l.Who, reason)
	if errors.Is(err, store.ErrUnchanged) {
		return Activation{LogEntry: store.LogEntry{Ref: ref, From: id, To: id}, Unchanged: true}, nil
	}
	return l.activated(e, err)
}

// Rollback points ref back at its previous target and tells the file system.
func (l *Local) Rollback(ref, reason string) (Activation, error) {
	return l.activated(snapshot.Rollback(l.Store, ref, l.Who, reason))
}

// activated tells the file system, then runs the hooks: by then every new
// request sees the new snapshot.
func (l *Local) activated(e store.LogEntry, err error) (Activation, error) {
	if err != nil {
		return Activation{LogEntry: e}, err
	}
	if l.OnRetarget != nil {
		l.OnRetarget(e.Ref, e.To, e.Seq)
	}
	a := Activation{LogEntry: e}
	if l.Hooks != nil {
		a.HookFailures = l.Hooks.Run(e)
	}
	return a, nil
}

// Remove deletes a snapshot's record.
func (l *Local) Remove(id store.Ref) error {
	err := snapshot.Remove(l.Store, id)
	if err == nil && l.OnRemove != nil {
		l.OnRemove(id)
	}
	return err
}

// Verify re-hashes the given snapshots (all when ids is empty).
func (l *Local) Verify(ids []store.Ref) (*snapshot.Report, error) {
	return snapshot.Verify(l.Store, ids)
}

// Status reports the refs and how many snapshots there are.
func (l *Local) Status() (Status, error) {
	all, err := l.Snapshots()
	if err != nil {
		return Status{}, err
	}
	refs, err := l.NamedRefs()
	return Status{Store: l.Dir(), Mount: l.Mount, PID: l.PID, Snapshots: len(all), Bytes: l.DiskSize(), Refs: refs}, err
}

var _ API = (*Local)(nil)
