package ctl

import (
	"errors"
	"fmt"
	"time"

	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// ClassesSetting is the store setting that holds the asset classes.
const ClassesSetting = "classes"

// Classes returns the store's asset classification patterns.
func (l *Local) Classes() (snapshot.Classes, error) {
	var c snapshot.Classes
	err := l.Setting(ClassesSetting, &c)
	if errors.Is(err, store.ErrNotFound) {
		return c, nil
	}
	return c, err
}

// SetClasses stores new classification patterns; the mount uses them for
// lookups from then on.
func (l *Local) SetClasses(c snapshot.Classes) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := l.SetSetting(ClassesSetting, c); err != nil {
		return err
	}
	if l.OnClasses != nil {
		l.OnClasses(c)
	}
	return nil
}

// Policy returns the store's retention policy (DefaultPolicy if unset).
func (l *Local) Policy() (snapshot.Policy, error) {
	p := snapshot.DefaultPolicy
	err := l.Setting(snapshot.RetentionSetting, &p)
	if errors.Is(err, store.ErrNotFound) {
		return snapshot.DefaultPolicy, nil
	}
	return p, err
}

// SetPolicy stores the retention policy used by default.
func (l *Local) SetPolicy(p snapshot.Policy) error {
	return l.SetSetting(snapshot.RetentionSetting, p)
}

// Prune applies p and, unless dryRun, removes the snapshots it drops.
func (l *Local) Prune(p snapshot.Policy, dryRun bool) ([]snapshot.Decision, error) {
	return snapshot.Prune(l.Store, p, dryRun, time.Now(), l.OnRemove)
}

// GC removes objects no snapshot references, keeping the contents of
// files the mount still holds, and reclaims disk.
func (l *Local) GC() (store.GCStats, error) {
	var live []store.Ref
	if l.LiveFiles != nil {
		live = l.LiveFiles()
	}
	st, err := l.Store.GC(live, nil)
	if err == nil && l.OnGC != nil {
		l.OnGC(st)
	}
	return st, err
}

// Purge withdraws content from /a/ and from asset carry-over. target is a
// content hash, or a path: then every distinct content found at that path
// in any snapshot is purged.
func (l *Local) Purge(target, reason string) ([]store.PurgeRecord, error) {
	refs, err := l.purgeTargets(target)
	if err != nil {
		return nil, err
	}
	var out []store.PurgeRecord
	for _, r := range refs {
		rec := store.PurgeRecord{Ref: r, Time: time.Now().UTC(), UID: l.Who.UID, PID: l.Who.PID, Reason: reason}
		if len(target) != 2*store.RefSize {
			rec.Path = target
		}
		if err := l.Store.Purge(rec); err != nil {
			return out, err
		}
		if l.OnPurge != nil {
			l.OnPurge(r)
		}
		out = append(out, rec)
	}
	return out, nil
}

func (l *Local) purgeTargets(target string) ([]store.Ref, error) {
	if r, err := store.ParseRef(target); err == nil {
		if ok, err := l.HasFile(r); err != nil || !ok {
			return nil, fmt.Errorf("purge %s: no such content: %w", r.Short(), store.ErrNotFound)
		}
		return []store.Ref{r}, nil
	}
	snaps, err := l.Snapshots()
	if err != nil {
		return nil, err
	}
	seen := map[store.Ref]bool{}
	var refs []store.Ref
	for _, s := range snaps {
		e, err := snapshot.Lookup(l.Store, s.ID, target)
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
