package store

import (
	"fmt"
	"runtime"

	"github.com/dgraph-io/badger/v4"
	"github.com/zeebo/blake3"
	"golang.org/x/sync/errgroup"
)

// An import's end: the commit's checks (content against its hash, the
// tree's rules, presence) and the writes that make a snapshot of it.

// Commit ends the import: it makes the objects durable, checks them
// (verifying writers: content against its hash, and every object the
// snapshot names present), then records snapshot info (CommitSnapshot,
// which checks the tree). On any failure nothing is recorded and the
// import is over; what it wrote is left for GC.
func (w *Writer) Commit(info SnapshotInfo) (SnapshotInfo, error) {
	if !w.end() {
		return info, ErrImportEnded
	}
	defer w.s.imports.remove(w)
	if err := w.wb.flush(); err != nil {
		return info, fmt.Errorf("flush objects: %w", err)
	}
	if err := w.writePending(); err != nil {
		return info, err
	}
	if err := w.s.Sync(); err != nil {
		return info, err
	}
	// The tree's rules first: their check costs the distinct trees, while
	// the presence walk below builds a path for each directory it enters
	// (a chain of 80,000 directories cost it 17 s before this one
	// refused it at once). The trees are the import's own, kept by GC.
	// The same walk finds the files to compress.
	jobs := w.variantJobs()
	chk, err := w.s.checkCommit(info, jobs.note)
	if err != nil {
		return info, err
	}
	// Variants before the record, and outside GC's lock (compressing
	// takes seconds): the import still owns what it wrote, so GC keeps
	// it.
	if err := w.variants(jobs); err != nil {
		return info, err
	}
	// GC must not sweep between the checks and the record: from then on
	// the snapshot itself keeps its objects.
	w.s.gcMu.RLock()
	defer w.s.gcMu.RUnlock()
	if w.verify {
		pending := make(map[Ref]*FileRecord, len(w.pending))
		for _, rec := range w.pending {
			pending[rec.Ref] = rec
		}
		known := func(e Entry) (uint64, bool) { return w.knownFile(pending, e) }
		problems, err := w.s.checkPresent(info.ID, true, known)
		if err != nil {
			return info, err
		}
		if len(problems) > 0 {
			return info, fmt.Errorf("snapshot %s is incomplete: %w", info.ID.Short(), problems[0])
		}
	} else if _, err := w.s.checkPresent(info.ID, true, w.directKnown); err != nil {
		// A direct import's own files need no lookups (directKnown), and
		// the marker written when nothing is missing spares the first
		// activation a walk of every file record (12 s at a million
		// files). What is missing is left to that activation's guard to
		// refuse, as before.
		return info, err
	}
	return w.s.commitChecked(info, chk)
}

// directKnown vouches for a file a direct import wrote with every chunk it
// names stored or relied on by the import, or relied on as stored (a
// record in the store has its chunks: they are written before it and
// swept after it); GC keeps them all until the commit.
func (w *Writer) directKnown(e Entry) (uint64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.files[e.Ref]
	_, lacking := w.incomplete[e.Ref]
	return e.Size, ok && !lacking
}

// end marks the import over and reports whether it was still open.
func (w *Writer) end() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return false
	}
	w.done = true
	return true
}

// writePending checks each held-back file record against its chunks, now
// readable, and writes the records if all are true.
func (w *Writer) writePending() error {
	if len(w.pending) == 0 {
		return nil
	}
	// Checked on every core: this is the commit's longest step for an
	// import of big files, and the client waits for it.
	g := errgroup.Group{}
	workers := runtime.GOMAXPROCS(0)
	for i := range workers {
		g.Go(func() error {
			for j := i; j < len(w.pending); j += workers {
				if rec := w.pending[j]; !w.proven(rec) {
					if err := w.checkImported(rec); err != nil {
						return fmt.Errorf("check imported content: %w", err)
					}
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	wb := newBatch(w.s)
	for _, rec := range w.pending {
		if err := putFileRecord(wb, rec); err != nil {
			wb.cancel()
			return err
		}
	}
	return wb.flush()
}

// checkImported is checkContent for a record this import was sent: a
// chunk whose bytes this import hashed on arrival, moments ago, is read
// without hashing it again, so that only the whole file's hash is computed.
// A record that does not match its chunks is the sender's fault
// (ErrInvalid); a chunk that does not match its own hash is the store's
// (ErrCorrupt).
func (w *Writer) checkImported(rec *FileRecord) error {
	if uint64(len(rec.Chunks)) != ChunksFor(rec.Size) {
		return fmt.Errorf("file %s: %d chunks for %d bytes: %w", rec.Ref, len(rec.Chunks), rec.Size, ErrInvalid)
	}
	h := blake3.New()
	var size uint64
	err := w.s.db.View(func(txn *badger.Txn) error {
		for i, c := range rec.Chunks {
			w.mu.Lock()
			n, hashed := w.chunks[c]
			w.mu.Unlock()
			item, err := txn.Get(chunkKey(c))
			if err != nil {
				return fmt.Errorf("file %s chunk %d: %w", rec.Ref, i, notFound(err))
			}
			err = item.Value(func(v []byte) error {
				if !hashed || n < 0 || int64(len(v)) != n {
					if Sum(v) != c {
						return fmt.Errorf("chunk %s: hash mismatch: %w", c, ErrCorrupt)
					}
					// Hashed once: a record naming the chunk again (a
					// file of one repeated block) reads it unhashed.
					if hashed && n == -1 {
						w.mu.Lock()
						w.chunks[c] = int64(len(v))
						w.mu.Unlock()
					}
				}
				if i < len(rec.Chunks)-1 && len(v) != ChunkSize {
					return fmt.Errorf("file %s chunk %d: %d bytes, want %d: %w", rec.Ref, i, len(v), ChunkSize, ErrInvalid)
				}
				h.Write(v)
				size += uint64(len(v))
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if size != rec.Size || Ref(h.Sum(nil)) != rec.Ref {
		return fmt.Errorf("file %s: the content sent does not match its hash or size: %w", rec.Ref, ErrInvalid)
	}
	return nil
}

// proven reports whether a one-chunk record is true without reading its
// chunk: its content hash is the chunk's (BLAKE3 of the same bytes), and
// this import hashed that chunk's bytes itself and saw their length. A
// 100,000-file import through the socket spent a third of its commit
// re-reading such chunks.
func (w *Writer) proven(rec *FileRecord) bool {
	if len(rec.Chunks) != 1 || rec.Chunks[0] != rec.Ref {
		return false
	}
	w.mu.Lock()
	n, ok := w.chunks[rec.Ref]
	w.mu.Unlock()
	return ok && n >= 0 && uint64(n) == rec.Size
}

// knownFile answers the commit's presence check for a file this import
// filed itself: its record is held in pending, and every chunk it names
// was written or found by this import, which GC keeps until the import
// ends. ok is false when the store must be asked.
func (w *Writer) knownFile(pending map[Ref]*FileRecord, e Entry) (size uint64, ok bool) {
	rec, found := pending[e.Ref]
	if !found {
		return 0, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range rec.Chunks {
		if n, has := w.chunks[c]; !has || n == chunkPending {
			return 0, false
		}
	}
	return rec.Size, true
}
