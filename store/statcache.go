package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// A StatEntry remembers what a source file hashed to when it had these
// attributes, as git's index does: a re-import trusts it while size, mtime,
// ctime and inode are unchanged and the content is still stored, and does not
// read the file.
type StatEntry struct {
	Size    uint64 `json:"size"`
	MTimeNs int64  `json:"mtime_ns"`
	CTimeNs int64  `json:"ctime_ns"`
	Ino     uint64 `json:"ino"`
	Ref     Ref    `json:"ref"`
}

const statEntrySize = 8*4 + RefSize

func (e StatEntry) encode() []byte {
	b := make([]byte, 0, statEntrySize)
	b = binary.BigEndian.AppendUint64(b, e.Size)
	b = binary.BigEndian.AppendUint64(b, uint64(e.MTimeNs))
	b = binary.BigEndian.AppendUint64(b, uint64(e.CTimeNs))
	b = binary.BigEndian.AppendUint64(b, e.Ino)
	return append(b, e.Ref[:]...)
}

// CachedRef returns the content ref the stat cache holds for an absolute
// source path, if its entry matches cur (all but Ref) and that content is
// still stored. One read transaction: a re-import calls it for every file.
func (s *Store) CachedRef(path string, cur StatEntry) (Ref, bool, error) {
	var ref Ref
	ok := false
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(statKey(path))
		if err != nil {
			return err
		}
		var e StatEntry
		if err := item.Value(func(v []byte) error { return decodeStat(v, &e) }); err != nil {
			return err
		}
		ref, e.Ref = e.Ref, Ref{}
		if e != cur {
			return nil
		}
		_, err = txn.Get(fileKey(ref))
		ok = err == nil
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return ref, false, nil
	}
	if err != nil {
		return ref, false, fmt.Errorf("stat cache %s: %w", path, err)
	}
	return ref, ok, nil
}

func decodeStat(v []byte, e *StatEntry) error {
	if len(v) != statEntrySize {
		return ErrCorrupt
	}
	e.Size = binary.BigEndian.Uint64(v)
	e.MTimeNs = int64(binary.BigEndian.Uint64(v[8:]))
	e.CTimeNs = int64(binary.BigEndian.Uint64(v[16:]))
	e.Ino = binary.BigEndian.Uint64(v[24:])
	copy(e.Ref[:], v[32:])
	return nil
}
