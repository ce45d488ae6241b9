package store

import (
	"fmt"
	"io"
)

// Backup writes a full copy of the store to w in Badger's backup format
// (a stream of key-value lists). It runs while the store is in use and
// sees one consistent moment.
func (s *Store) Backup(w io.Writer) error {
	if _, err := s.db.Backup(w, 0); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// Restore loads a backup into this store, which must hold no snapshot:
// restoring over a store would mix two histories.
func (s *Store) Restore(r io.Reader) error {
	// The log changes under the cached tip; no activation may run meanwhile.
	s.refsMu.Lock()
	defer s.refsMu.Unlock()
	s.tip = logTip{}
	all, err := s.Snapshots()
	if err != nil {
		return err
	}
	if len(all) > 0 {
		return fmt.Errorf("restore: the store already holds %d snapshots; restore into a new store directory", len(all))
	}
	if err := s.db.Load(r, 256); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := s.checkSchema(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return s.Sync()
}
