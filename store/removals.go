package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// ErrRemoved: the snapshot existed and was removed (by prune or rm). It
// is a kind of not found; the message says when, how and by whom, so that
// nobody reads a pruned rollback target as damage and reaches for backups.
var ErrRemoved = fmt.Errorf("snapshot removed: %w", ErrNotFound)

// A Removal records why a snapshot's record went: Why is "pruned" (the
// retention policy) or "removed" (vfsctl snapshot rm).
type Removal struct {
	ID     Ref       `json:"id"`
	Time   time.Time `json:"time"`
	Why    string    `json:"why"`
	UID    int       `json:"uid"`
	User   string    `json:"user"`
	Reason string    `json:"reason,omitempty"`
}

// MaxRemovals bounds the removal records kept; past it the oldest go
// (their snapshots then read as never having existed).
const MaxRemovals = 10000

// removedError is the error for a removed snapshot.
func removedError(r Removal) error {
	by := r.User
	if by == "" {
		by = fmt.Sprintf("uid %d", r.UID)
	}
	how := r.Why
	if r.Why == "pruned" {
		how = "pruned by the retention policy"
	}
	return fmt.Errorf("snapshot %s was %s at %s (by %s); its content may be gone after gc: choose another (vfsctl snapshot list, vfsctl log) or import it again: %w",
		r.ID.Short(), how, r.Time.UTC().Format(time.RFC3339), by, ErrRemoved)
}

// removalIn returns the removal record of id, if any.
func removalIn(txn *badger.Txn, id Ref) (Removal, bool, error) {
	var r Removal
	err := getJSON(txn, removalKey(id), &r)
	if errors.Is(err, ErrNotFound) {
		return r, false, nil
	}
	return r, err == nil, err
}

// Removed returns the removal record of snapshot id, if it was removed.
func (s *Store) Removed(id Ref) (Removal, bool, error) {
	var r Removal
	var ok bool
	err := s.db.View(func(txn *badger.Txn) (err error) {
		r, ok, err = removalIn(txn, id)
		return err
	})
	return r, ok, err
}

// putRemovalIn records r, dropping the oldest records past MaxRemovals.
func putRemovalIn(txn *badger.Txn, r Removal) error {
	if err := CheckText("reason", r.Reason); err != nil {
		return err
	}
	var all []Removal
	err := scanIn(txn, prefixRemoval, func(_, v []byte) error {
		var x Removal
		if json.Unmarshal(v, &x) == nil {
			all = append(all, x)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(all) >= MaxRemovals {
		sort.Slice(all, func(i, j int) bool { return all[i].Time.Before(all[j].Time) })
		for _, x := range all[:len(all)-MaxRemovals+1] {
			if err := txn.Delete(removalKey(x.ID)); err != nil {
				return err
			}
		}
	}
	return putJSON(txn, removalKey(r.ID), r)
}
