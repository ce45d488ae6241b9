package store

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Tree returns the tree stored under ref, verified against it.
func (s *Store) Tree(ref Ref) (*Tree, error) {
	data, err := s.get(treeKey(ref))
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", ref, err)
	}
	if Sum(data) != ref {
		return nil, fmt.Errorf("tree %s: hash mismatch: %w", ref, ErrCorrupt)
	}
	t, err := DecodeTree(data)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", ref, err)
	}
	return t, nil
}

// File returns the record of the file whose content hashes to ref. The
// record's parse is checked; its chunks are checked as they are read.
func (s *Store) File(ref Ref) (*FileRecord, error) {
	data, err := s.get(fileKey(ref))
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", ref, err)
	}
	return decodeFile(ref, data)
}

// ReadAt fills p with the content of f from offset off and returns how many
// bytes it read; fewer than len(p) only at the end of the file. Every chunk
// touched is verified: on a mismatch it returns ErrCorrupt and p holds no
// bytes of that chunk. p belongs to the caller.
func (s *Store) ReadAt(f *FileRecord, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset", f.Ref)
	}
	if uint64(off) >= f.Size {
		return 0, nil
	}
	if rest := f.Size - uint64(off); uint64(len(p)) > rest {
		p = p[:rest]
	}
	cs := int64(f.ChunkSize)
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		for n < len(p) {
			pos := off + int64(n)
			idx := pos / cs
			m, err := readChunk(txn, f.Chunks[idx], p[n:], int(pos-idx*cs))
			if err != nil {
				return fmt.Errorf("read %s chunk %d: %w", f.Ref, idx, err)
			}
			n += m
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// readChunk verifies chunk ref and copies it from offset within into dst.
// The value slice is only valid inside item.Value, so the copy happens there.
func readChunk(txn *badger.Txn, ref Ref, dst []byte, within int) (int, error) {
	item, err := txn.Get(chunkKey(ref))
	if err != nil {
		return 0, notFound(err)
	}
	n := 0
	err = item.Value(func(v []byte) error {
		if Sum(v) != ref {
			return fmt.Errorf("chunk %s: hash mismatch: %w", ref, ErrCorrupt)
		}
		if within > len(v) {
			return fmt.Errorf("chunk %s: short chunk: %w", ref, ErrCorrupt)
		}
		n = copy(dst, v[within:])
		return nil
	})
	if err == nil && n == 0 && len(dst) > 0 {
		return 0, fmt.Errorf("chunk %s: short chunk: %w", ref, ErrCorrupt)
	}
	return n, err
}

// Chunk returns a verified copy of chunk ref.
func (s *Store) Chunk(ref Ref) ([]byte, error) {
	data, err := s.get(chunkKey(ref))
	if err != nil {
		return nil, fmt.Errorf("chunk %s: %w", ref, err)
	}
	if Sum(data) != ref {
		return nil, fmt.Errorf("chunk %s: hash mismatch: %w", ref, ErrCorrupt)
	}
	return data, nil
}

// HasFile reports whether the file record for ref exists.
func (s *Store) HasFile(ref Ref) (bool, error) { return s.has(fileKey(ref)) }

// HasChunk reports whether chunk ref exists.
func (s *Store) HasChunk(ref Ref) (bool, error) { return s.has(chunkKey(ref)) }

// firstFreeValidator returns the first mtime from m on that no stored
// content of this size owns, walking the validator index in key order.
func (s *Store) firstFreeValidator(size uint64, m int64) (int64, error) {
	err := s.db.View(func(txn *badger.Txn) error {
		// Usually m itself is free: one point lookup (bloom filters)
		// costs less than opening an iterator.
		if _, err := txn.Get(validatorKey(size, m)); errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		prefix := validatorPrefix(size)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(validatorKey(size, m)); it.Valid(); it.Next() {
			if validatorMTime(it.Item().Key()) != m {
				break
			}
			m++
		}
		return nil
	})
	return m, err
}
