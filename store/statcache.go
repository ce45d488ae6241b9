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

// A stored entry is the StatEntry and then the sweep count (key family
// w) when it was written: its content was stored then (the import wrote
// the file record first), and while no sweep has run since, it still is,
// so a re-import need not ask. That second lookup, at a random place in
// the store, was half of re-importing a million unchanged files. Entries
// written by schema 3 lack the count and are always checked.
const (
	statEntrySize      = 8*4 + RefSize
	statEntrySizeSwept = statEntrySize + 8
)

func (e StatEntry) encode(sweeps uint64) []byte {
	return binary.BigEndian.AppendUint64(e.encodeUnswept(), sweeps)
}

// encodeUnswept encodes an entry whose content must be checked at use.
func (e StatEntry) encodeUnswept() []byte {
	b := make([]byte, 0, statEntrySizeSwept)
	b = binary.BigEndian.AppendUint64(b, e.Size)
	b = binary.BigEndian.AppendUint64(b, uint64(e.MTimeNs))
	b = binary.BigEndian.AppendUint64(b, uint64(e.CTimeNs))
	b = binary.BigEndian.AppendUint64(b, e.Ino)
	return append(b, e.Ref[:]...)
}

// CachedRef returns the content ref the stat cache holds for an absolute
// source path, if its entry matches cur (all but Ref) and that content is
// still stored.
func (s *Store) CachedRef(path string, cur StatEntry) (Ref, bool, error) {
	refs, err := s.CachedRefs([]StatQuery{{Path: path, Stat: cur}})
	if err != nil {
		return Ref{}, false, err
	}
	return refs[0], !refs[0].IsZero(), nil
}

// CachedRefs answers each query as CachedRef does, a zero Ref for a miss,
// in one read transaction: a re-import asks about every file.
func (s *Store) CachedRefs(q []StatQuery) ([]Ref, error) {
	out, _, err := s.cachedRefs(q)
	return out, err
}

// cachedRefs is CachedRefs, also saying of each hit whether its content
// had to be looked up (its entry was not written at this sweep count).
func (s *Store) cachedRefs(q []StatQuery) ([]Ref, []bool, error) {
	for _, x := range q {
		if err := CheckStatPath(x.Path); err != nil {
			return nil, nil, err
		}
	}
	out := make([]Ref, len(q))
	checked := make([]bool, len(q))
	sweeps := s.gen.Load()
	err := s.db.View(func(txn *badger.Txn) error {
		for i, x := range q {
			ref, looked, err := cachedIn(txn, x, sweeps)
			if err != nil {
				return fmt.Errorf("stat cache %s: %w", x.Path, err)
			}
			out[i], checked[i] = ref, looked
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, checked, nil
}

// cachedIn answers one query in txn; sweeps is the sweep count now.
// looked says the content's record had to be looked up.
func cachedIn(txn *badger.Txn, q StatQuery, sweeps uint64) (ref Ref, looked bool, err error) {
	item, err := txn.Get(statKey(q.Path))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return Ref{}, false, nil
	}
	if err != nil {
		return Ref{}, false, err
	}
	var e StatEntry
	var at uint64
	var swept bool
	if err := item.Value(func(v []byte) (err error) { at, swept, err = decodeStat(v, &e); return err }); err != nil {
		return Ref{}, false, err
	}
	ref = e.Ref
	e.Ref = Ref{}
	if e != q.Stat {
		return Ref{}, false, nil
	}
	if swept && at == sweeps {
		return ref, false, nil
	}
	_, err = txn.Get(fileKey(ref))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return Ref{}, true, nil
	}
	return ref, true, err
}

// decodeStat decodes an entry into e and returns the sweep count it was
// written at, if it has one.
func decodeStat(v []byte, e *StatEntry) (sweeps uint64, swept bool, err error) {
	switch len(v) {
	case statEntrySizeSwept:
		sweeps, swept = binary.BigEndian.Uint64(v[statEntrySize:]), true
	case statEntrySize:
	default:
		return 0, false, ErrCorrupt
	}
	e.Size = binary.BigEndian.Uint64(v)
	e.MTimeNs = int64(binary.BigEndian.Uint64(v[8:]))
	e.CTimeNs = int64(binary.BigEndian.Uint64(v[16:]))
	e.Ino = binary.BigEndian.Uint64(v[24:])
	copy(e.Ref[:], v[32:statEntrySize])
	return sweeps, swept, nil
}
