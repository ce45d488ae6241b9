package store

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/dgraph-io/badger/v4"
)

func getJSON(txn *badger.Txn, key []byte, v any) error {
	item, err := txn.Get(key)
	if err != nil {
		return notFound(err)
	}
	return item.Value(func(b []byte) error {
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("record %x: %v: %w", key, err, ErrCorrupt)
		}
		return nil
	})
}

func putJSON(txn *badger.Txn, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return txn.Set(key, b)
}

func getRefIn(txn *badger.Txn, key []byte) (Ref, error) {
	var r Ref
	item, err := txn.Get(key)
	if err != nil {
		return r, notFound(err)
	}
	err = item.Value(func(b []byte) error {
		if len(b) != RefSize {
			return fmt.Errorf("value of %x: %w", key, ErrCorrupt)
		}
		copy(r[:], b)
		return nil
	})
	return r, err
}

// scan calls fn for every key of one family, in key order. k and v are
// only valid during the call.
func (s *Store) scan(prefix byte, fn func(k, v []byte) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		return scanIn(txn, prefix, fn)
	})
}

func scanIn(txn *badger.Txn, prefix byte, fn func(k, v []byte) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefix}, PrefetchValues: false})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		err := item.Value(func(v []byte) error { return fn(item.Key(), v) })
		if err != nil {
			return err
		}
	}
	return nil
}

func sortByCreated(list []SnapshotInfo) {
	sort.SliceStable(list, func(i, j int) bool { return list[i].Created.Before(list[j].Created) })
}
