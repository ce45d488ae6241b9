package store

import (
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// A Writer adds objects to the store in batches. Objects become durable at
// Finish; a crash before then leaves at most unreferenced objects, which no
// snapshot names and a later GC removes. One Writer runs at a time per store
// (NewWriter waits for the previous one). Its methods are safe for
// concurrent use.
type Writer struct {
	s  *Store
	wb *badger.WriteBatch

	mu     sync.Mutex
	chunks map[Ref]struct{}  // chunks written by this writer
	files  map[Ref]int64     // files written by this writer -> mtime
	taken  map[[2]int64]bool // validators assigned by this writer
	// next remembers, per (size, source mtime), where the last search for
	// a free validator ended, so that many same-size files with one
	// mtime (a generated tree) cost O(1) each instead of a rescan.
	next map[[2]int64]int64
	done bool

	// verify: file records come from a client that hashed the content
	// itself. They are held back and written only after Finish has
	// re-read their chunks and checked the content against the ref, so a
	// client cannot file bytes under another content's hash.
	verify  bool
	pending []*FileRecord
}

// NewWriter starts a batch of writes.
func (s *Store) NewWriter() *Writer {
	s.importMu.Lock()
	return &Writer{
		s:      s,
		wb:     s.db.NewWriteBatch(),
		chunks: map[Ref]struct{}{},
		files:  map[Ref]int64{},
		taken:  map[[2]int64]bool{},
		next:   map[[2]int64]int64{},
	}
}

// NewVerifyingWriter is NewWriter for content hashed by someone else (a
// client of the daemon): file records are written at Finish, once their
// chunks hash to their refs.
func (s *Store) NewVerifyingWriter() *Writer {
	w := s.NewWriter()
	w.verify = true
	return w
}

// PutChunk stores data as a chunk unless it is already stored, and returns
// its ref. data may be reused by the caller once PutChunk returns.
func (w *Writer) PutChunk(data []byte) (Ref, error) {
	ref := Sum(data)
	w.mu.Lock()
	_, seen := w.chunks[ref]
	w.chunks[ref] = struct{}{}
	w.mu.Unlock()
	if seen {
		return ref, nil
	}
	ok, err := w.s.has(chunkKey(ref))
	if err != nil || ok {
		return ref, err
	}
	if err := w.wb.Set(chunkKey(ref), append([]byte(nil), data...)); err != nil {
		return ref, fmt.Errorf("put chunk %s: %w", ref, err)
	}
	return ref, nil
}

// PutFile records a file's content and returns the mtime that content owns.
// Content already in the store keeps the mtime it was given first. New
// content gets srcMTime (unix seconds), moved forward one second at a time
// until no other content of the same size has it, so that web servers'
// (mtime, size) validators never name two contents.
func (w *Writer) PutFile(ref Ref, size uint64, srcMTime int64, chunks []Ref) (int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if m, ok := w.files[ref]; ok {
		return m, nil
	}
	if old, err := w.s.File(ref); err == nil {
		w.files[ref] = old.MTime
		return old.MTime, nil
	} else if !isNotFound(err) {
		return 0, fmt.Errorf("put file %s: %w", ref, err)
	}
	m, err := w.freeValidator(size, srcMTime)
	if err != nil {
		return 0, fmt.Errorf("put file %s: %w", ref, err)
	}
	rec := &FileRecord{Ref: ref, Size: size, MTime: m, ChunkSize: ChunkSize, Chunks: chunks}
	w.files[ref] = m
	if w.verify {
		w.pending = append(w.pending, rec)
		return m, nil
	}
	return m, putFileRecord(w.wb, rec)
}

func putFileRecord(wb *badger.WriteBatch, rec *FileRecord) error {
	if err := wb.Set(fileKey(rec.Ref), encodeFile(rec)); err != nil {
		return fmt.Errorf("put file %s: %w", rec.Ref, err)
	}
	if err := wb.Set(validatorKey(rec.Size, rec.MTime), append([]byte(nil), rec.Ref[:]...)); err != nil {
		return fmt.Errorf("put file %s: %w", rec.Ref, err)
	}
	return nil
}

// freeValidator finds the first mtime from m on that no content of this size
// owns, in the store or in this batch. Called with w.mu held.
func (w *Writer) freeValidator(size uint64, m int64) (int64, error) {
	start := [2]int64{int64(size), m}
	if n, ok := w.next[start]; ok {
		m = n
	}
	for {
		free, err := w.s.firstFreeValidator(size, m)
		if err != nil {
			return 0, err
		}
		m = free
		if !w.taken[[2]int64{int64(size), m}] {
			break
		}
		m++
	}
	w.taken[[2]int64{int64(size), m}] = true
	w.next[start] = m + 1
	return m, nil
}

// PutTree stores t and returns its ref.
func (w *Writer) PutTree(t *Tree) (Ref, error) {
	data, err := EncodeTree(t)
	if err != nil {
		return Ref{}, err
	}
	ref := Sum(data)
	if err := w.wb.Set(treeKey(ref), data); err != nil {
		return ref, fmt.Errorf("put tree %s: %w", ref, err)
	}
	return ref, nil
}

// Finish writes what is left of the batch and syncs it to disk.
func (w *Writer) Finish() error {
	if w.done {
		return nil
	}
	w.done = true
	defer w.s.importMu.Unlock()
	if err := w.wb.Flush(); err != nil {
		return fmt.Errorf("flush objects: %w", err)
	}
	if err := w.writePending(); err != nil {
		return err
	}
	return w.s.Sync()
}

// writePending checks each held-back file record against its chunks, now
// readable, and writes the records if all are true.
func (w *Writer) writePending() error {
	if len(w.pending) == 0 {
		return nil
	}
	for _, rec := range w.pending {
		if err := w.s.checkContent(rec); err != nil {
			return fmt.Errorf("imported content does not match its hash: %w", err)
		}
	}
	wb := w.s.db.NewWriteBatch()
	for _, rec := range w.pending {
		if err := putFileRecord(wb, rec); err != nil {
			wb.Cancel()
			return err
		}
	}
	return wb.Flush()
}

// Abort drops what has not been written yet. Safe to call after Finish.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.wb.Cancel()
	w.s.importMu.Unlock()
}
