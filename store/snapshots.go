package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// SnapshotInfo is a snapshot's record. ID is the ref of its root tree.
type SnapshotInfo struct {
	ID      Ref       `json:"id"`
	Created time.Time `json:"created"`
	Labels  []string  `json:"labels"`
	Message string    `json:"message"`
	Source  string    `json:"source"`
	Files   uint64    `json:"files"`
	Dirs    uint64    `json:"dirs"`
	Bytes   uint64    `json:"bytes"`
	// Pinned: retention never removes the snapshot (prune keeps it).
	Pinned bool `json:"pinned"`
}

// MarshalJSON writes no labels as [], not null: a list is never null in
// vfs's JSON.
func (s SnapshotInfo) MarshalJSON() ([]byte, error) {
	type plain SnapshotInfo
	if s.Labels == nil {
		s.Labels = []string{}
	}
	return json.Marshal(plain(s))
}

// ErrLabelTaken: a label already names another snapshot.
var ErrLabelTaken = errors.New("label names another snapshot")

// CommitSnapshot makes a snapshot visible. Its objects must already be
// durable (Writer.Commit calls it once they are). The tree must pass
// CheckSnapshot and the labels CheckLabel, whoever sent them. The record
// and its labels are written in one transaction and synced: a crash leaves
// either no snapshot or all of it. Committing an id that exists keeps its
// record and adds the new labels, so a retried import is idempotent. It
// returns the record as stored.
func (s *Store) CommitSnapshot(info SnapshotInfo) (SnapshotInfo, error) {
	sum, err := s.checkCommit(info, nil)
	if err != nil {
		return info, err
	}
	return s.commitChecked(info, sum)
}

// checked is what checkCommit learned of a snapshot.
type checked struct {
	sum  Summary
	priv *privacy
}

// checkCommit checks a snapshot record and its tree before a commit,
// telling onFile (if set) of every file entry of every distinct tree.
func (s *Store) checkCommit(info SnapshotInfo, onFile func(Entry)) (checked, error) {
	if err := CheckInfo(info); err != nil {
		return checked{}, fmt.Errorf("commit snapshot %s: %w", info.ID.Short(), err)
	}
	c := checked{priv: newPrivacy(s)}
	sum, err := checkSnapshot(s, info.ID, func(e Entry) {
		c.priv.note(e)
		if onFile != nil {
			onFile(e)
		}
	})
	if err != nil {
		return c, fmt.Errorf("commit snapshot %s: %w", info.ID.Short(), err)
	}
	c.sum = sum
	return c, nil
}

// commitChecked is CommitSnapshot once checkCommit passed. Contents it
// names only privately are marked before the record is written, those it
// names readable unmarked after: a failure between leaves an index that
// errs on the side of private.
func (s *Store) commitChecked(info SnapshotInfo, c checked) (SnapshotInfo, error) {
	// The store counts, whoever imported: a client's figures are claims.
	info.Files, info.Dirs, info.Bytes = c.sum.Files, c.sum.Dirs, c.sum.Bytes
	if err := c.priv.mark(s); err != nil {
		return info, fmt.Errorf("commit snapshot %s: %w", info.ID.Short(), err)
	}
	err := s.update(func(txn *badger.Txn) error {
		stored, err := snapshotIn(txn, info.ID)
		if err == nil {
			stored.Labels = mergeLabels(stored.Labels, info.Labels)
			info = stored
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		for _, l := range info.Labels {
			if err := setLabelIn(txn, l, info.ID); err != nil {
				return err
			}
		}
		// Imported again: no longer removed.
		if err := txn.Delete(removalKey(info.ID)); err != nil {
			return err
		}
		return putJSON(txn, snapshotKey(info.ID), info)
	})
	if err != nil {
		return info, fmt.Errorf("commit snapshot %s: %w", info.ID.Short(), err)
	}
	if err := s.Sync(); err != nil {
		return info, err
	}
	if err := c.priv.unmark(s); err != nil {
		return info, fmt.Errorf("commit snapshot %s: %w", info.ID.Short(), err)
	}
	return info, nil
}

func mergeLabels(a, b []string) []string {
	for _, l := range b {
		if !contains(a, l) {
			a = append(a, l)
		}
	}
	return a
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func setLabelIn(txn *badger.Txn, label string, id Ref) error {
	old, err := getRefIn(txn, labelKey(label))
	if err == nil && old != id {
		return fmt.Errorf("label %q is %s: %w", label, old.Short(), ErrLabelTaken)
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return txn.Set(labelKey(label), append([]byte(nil), id[:]...))
}

// Snapshot returns the record of snapshot id.
func (s *Store) Snapshot(id Ref) (SnapshotInfo, error) {
	var info SnapshotInfo
	err := s.db.View(func(txn *badger.Txn) (err error) {
		info, err = snapshotIn(txn, id)
		return err
	})
	if err != nil {
		return info, fmt.Errorf("snapshot %s: %w", id.Short(), err)
	}
	return info, nil
}

func snapshotIn(txn *badger.Txn, id Ref) (SnapshotInfo, error) {
	var info SnapshotInfo
	err := getJSON(txn, snapshotKey(id), &info)
	if errors.Is(err, ErrNotFound) {
		if r, ok, rerr := removalIn(txn, id); rerr == nil && ok {
			return info, removedError(r)
		}
	}
	return info, err
}

// Snapshots returns every snapshot record, oldest first.
func (s *Store) Snapshots() ([]SnapshotInfo, error) {
	var out []SnapshotInfo
	err := s.scan(prefixSnapshot, func(k, v []byte) error {
		var info SnapshotInfo
		if err := json.Unmarshal(v, &info); err != nil {
			return fmt.Errorf("snapshot record %x: %v: %w", k, err, ErrCorrupt)
		}
		out = append(out, info)
		return nil
	})
	sortByCreated(out)
	return out, err
}

// Label returns the snapshot a label names.
func (s *Store) Label(name string) (Ref, error) {
	var id Ref
	err := s.db.View(func(txn *badger.Txn) (err error) {
		id, err = getRefIn(txn, labelKey(name))
		return err
	})
	if err != nil {
		return id, fmt.Errorf("label %q: %w", name, err)
	}
	return id, nil
}

// ErrInUse: a snapshot cannot be removed while a named ref points at it.
var ErrInUse = errors.New("snapshot is in use")

// DeleteSnapshot removes a snapshot's record and labels, refusing while a
// named ref points at it, and records why (r's ID and Time are set here).
// Its objects stay until GC.
func (s *Store) DeleteSnapshot(id Ref, r Removal) error {
	r.ID, r.Time = id, time.Now().UTC()
	s.refsMu.Lock()
	defer s.refsMu.Unlock()
	err := s.update(func(txn *badger.Txn) error {
		info, err := snapshotIn(txn, id)
		if err != nil {
			return err
		}
		refs, err := namedRefsIn(txn)
		if err != nil {
			return err
		}
		for name, to := range refs {
			if to == id {
				return fmt.Errorf("ref %q points at it: %w", name, ErrInUse)
			}
		}
		if info.Pinned {
			return fmt.Errorf("it is pinned (unpin it first): %w", ErrInUse)
		}
		for _, l := range info.Labels {
			if err := txn.Delete(labelKey(l)); err != nil {
				return err
			}
		}
		if err := putRemovalIn(txn, r); err != nil {
			return err
		}
		if err := deleteSignaturesIn(txn, id); err != nil {
			return err
		}
		return txn.Delete(snapshotKey(id))
	})
	if err != nil {
		return fmt.Errorf("delete snapshot %s: %w", id.Short(), err)
	}
	return s.Sync()
}

// MoveLabel points label at snapshot id, taking it from the snapshot it
// named before, if any.
func (s *Store) MoveLabel(id Ref, label string) (from Ref, err error) {
	if err := CheckLabel(label); err != nil {
		return Ref{}, fmt.Errorf("label %s: %w", id.Short(), err)
	}
	err = s.update(func(txn *badger.Txn) error {
		info, err := snapshotIn(txn, id)
		if err != nil {
			return err
		}
		if old, err := getRefIn(txn, labelKey(label)); err == nil && old != id {
			if err := dropLabelIn(txn, old, label); err != nil {
				return err
			}
			from = old
		} else if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if err := txn.Set(labelKey(label), append([]byte(nil), id[:]...)); err != nil {
			return err
		}
		info.Labels = mergeLabels(info.Labels, []string{label})
		return putJSON(txn, snapshotKey(id), info)
	})
	if err != nil {
		return from, fmt.Errorf("move label %q to %s: %w", label, id.Short(), err)
	}
	return from, s.Sync()
}

// RemoveLabel deletes a label; the snapshot it named stays.
func (s *Store) RemoveLabel(label string) (from Ref, err error) {
	err = s.update(func(txn *badger.Txn) error {
		from, err = getRefIn(txn, labelKey(label))
		if err != nil {
			return err
		}
		if err := dropLabelIn(txn, from, label); err != nil {
			return err
		}
		return txn.Delete(labelKey(label))
	})
	if err != nil {
		return from, fmt.Errorf("remove label %q: %w", label, err)
	}
	return from, s.Sync()
}

// dropLabelIn takes label off snapshot id's record.
func dropLabelIn(txn *badger.Txn, id Ref, label string) error {
	info, err := snapshotIn(txn, id)
	if err != nil {
		return err
	}
	kept := info.Labels[:0]
	for _, l := range info.Labels {
		if l != label {
			kept = append(kept, l)
		}
	}
	info.Labels = kept
	return putJSON(txn, snapshotKey(id), info)
}

// SetPinned pins snapshot id (retention never removes it) or unpins it.
func (s *Store) SetPinned(id Ref, pinned bool) error {
	err := s.update(func(txn *badger.Txn) error {
		info, err := snapshotIn(txn, id)
		if err != nil {
			return err
		}
		info.Pinned = pinned
		return putJSON(txn, snapshotKey(id), info)
	})
	if err != nil {
		return fmt.Errorf("pin %s: %w", id.Short(), err)
	}
	return s.Sync()
}

// AddLabel gives snapshot id one more label; a label names one snapshot.
func (s *Store) AddLabel(id Ref, label string) error {
	if err := CheckLabel(label); err != nil {
		return fmt.Errorf("label %s: %w", id.Short(), err)
	}
	err := s.update(func(txn *badger.Txn) error {
		info, err := snapshotIn(txn, id)
		if err != nil {
			return err
		}
		if err := setLabelIn(txn, label, id); err != nil {
			return err
		}
		info.Labels = mergeLabels(info.Labels, []string{label})
		return putJSON(txn, snapshotKey(id), info)
	})
	if err != nil {
		return fmt.Errorf("label %s as %q: %w", id.Short(), label, err)
	}
	return s.Sync()
}
