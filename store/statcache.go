package store

import (
	"encoding/binary"
	"fmt"
)

// A StatEntry remembers what a source file hashed to when it had these
// attributes, as git's index does: a re-import trusts it while size, mtime,
// ctime and inode are unchanged and the content is still stored, and does not
// read the file.
type StatEntry struct {
	Size    uint64
	MTimeNs int64
	CTimeNs int64
	Ino     uint64
	Ref     Ref
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

// StatCache returns the stat cache entry of an absolute source path.
func (s *Store) StatCache(path string) (StatEntry, error) {
	var e StatEntry
	v, err := s.get(statKey(path))
	if err != nil {
		return e, fmt.Errorf("stat cache %s: %w", path, err)
	}
	if len(v) != statEntrySize {
		return e, fmt.Errorf("stat cache %s: %w", path, ErrCorrupt)
	}
	e.Size = binary.BigEndian.Uint64(v)
	e.MTimeNs = int64(binary.BigEndian.Uint64(v[8:]))
	e.CTimeNs = int64(binary.BigEndian.Uint64(v[16:]))
	e.Ino = binary.BigEndian.Uint64(v[24:])
	copy(e.Ref[:], v[32:])
	return e, nil
}

// PutStat records a stat cache entry with the writer's batch.
func (w *Writer) PutStat(path string, e StatEntry) error {
	if err := w.wb.Set(statKey(path), e.encode()); err != nil {
		return fmt.Errorf("stat cache %s: %w", path, err)
	}
	return nil
}
