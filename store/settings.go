package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Setting reads the store setting name into v; ErrNotFound if unset.
func (s *Store) Setting(name string, v any) error {
	err := s.db.View(func(txn *badger.Txn) error { return getJSON(txn, settingKey(name), v) })
	if err != nil {
		return fmt.Errorf("setting %s: %w", name, err)
	}
	return nil
}

// SetSetting stores v as the setting name.
func (s *Store) SetSetting(name string, v any) error {
	err := s.update(func(txn *badger.Txn) error { return putJSON(txn, settingKey(name), v) })
	if err != nil {
		return fmt.Errorf("setting %s: %w", name, err)
	}
	return s.Sync()
}

// PurgeRecord says why a content was withdrawn.
type PurgeRecord struct {
	Ref    Ref       `json:"ref"`
	Time   time.Time `json:"time"`
	Path   string    `json:"path"`
	UID    int       `json:"uid"`
	PID    int       `json:"pid"`
	Reason string    `json:"reason"`
}

// Purge records that content ref must no longer be served through /a/ or
// asset carry-over. Snapshots that contain it keep it (they are exact).
func (s *Store) Purge(p PurgeRecord) error {
	if err := CheckText("reason", p.Reason); err != nil {
		return fmt.Errorf("purge %s: %w", p.Ref.Short(), err)
	}
	err := s.update(func(txn *badger.Txn) error { return putJSON(txn, purgeKey(p.Ref), p) })
	if err != nil {
		return fmt.Errorf("purge %s: %w", p.Ref.Short(), err)
	}
	return s.Sync()
}

// Purged reports whether content ref was purged.
func (s *Store) Purged(ref Ref) (bool, error) { return s.has(purgeKey(ref)) }

// Purges lists every purge record.
func (s *Store) Purges() ([]PurgeRecord, error) {
	var out []PurgeRecord
	err := s.scan(prefixPurge, func(k, v []byte) error {
		var p PurgeRecord
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("purge record %x: %w", k, ErrCorrupt)
		}
		out = append(out, p)
		return nil
	})
	return out, err
}
