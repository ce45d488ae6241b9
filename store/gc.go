package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"

	"github.com/dgraph-io/badger/v4"
)

// GCStats reports what a collection removed and reclaimed.
type GCStats struct {
	Snapshots     int   `json:"snapshots"`
	Chunks        int   `json:"chunks_deleted"`
	ChunkBytes    int64 `json:"chunk_bytes_deleted"` // content the deleted chunks held
	Files         int   `json:"files_deleted"`
	Trees         int   `json:"trees_deleted"`
	BytesBefore   int64 `json:"bytes_before"`
	BytesAfter    int64 `json:"bytes_after"`
	VlogRewritten int   `json:"vlog_files_rewritten"`
}

// GC deletes every chunk, file record and tree that no snapshot record
// reaches, that no open import wrote or relies on, and that is not in live
// (file contents still in use elsewhere, such as files open through the
// mount), then compacts so that disk space comes back. Imports pause at
// their next lookup while it marks and sweeps; it waits for no client.
// Reads go on throughout. It stops between steps when ctx ends, and calls
// progress, if set, as each step begins.
func (s *Store) GC(ctx context.Context, live []Ref, progress func(step string)) (GCStats, error) {
	s.gcRunMu.Lock()
	defer s.gcRunMu.Unlock()
	if progress == nil {
		progress = func(string) {}
	}
	var st GCStats
	st.BytesBefore = s.DiskSize()
	if err := ctx.Err(); err != nil {
		return st, fmt.Errorf("gc: %w", err)
	}
	progress("mark and sweep")
	s.gcMu.Lock()
	err := s.markAndSweep(live, &st)
	s.gcMu.Unlock()
	if err != nil {
		return st, fmt.Errorf("gc: %w", err)
	}
	if err := s.reclaim(ctx, &st, progress); err != nil {
		return st, fmt.Errorf("gc: %w", err)
	}
	st.BytesAfter = s.DiskSize()
	return st, nil
}

// DiskSize adds up the blocks the store's files occupy (Badger's own Size
// is refreshed only once a minute, and its memtable files are sparse).
func (s *Store) DiskSize() int64 {
	var n int64
	if s.dir == "" {
		return 0
	}
	filepath.WalkDir(s.dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			}
		}
		return nil
	})
	return n
}

func (s *Store) markAndSweep(live []Ref, st *GCStats) error {
	trees, files := map[Ref]bool{}, map[Ref]bool{}
	readable := map[Ref]bool{} // contents some snapshot names readable by others
	snaps, err := s.Snapshots()
	if err != nil {
		return err
	}
	st.Snapshots = len(snaps)
	survivors := make(map[Ref]bool, len(snaps))
	for _, info := range snaps {
		survivors[info.ID] = true
		trees[info.ID] = true
		err := WalkDistinct(s, info.ID, func(_ string, e Entry) error {
			switch e.Kind {
			case KindDir:
				trees[e.Ref] = true
			case KindFile:
				files[e.Ref] = true
				if e.Mode&readableByOthers != 0 {
					readable[e.Ref] = true
				}
			}
			return nil
		}, nil)
		if err != nil {
			return fmt.Errorf("mark snapshot %s: %w", info.ID.Short(), err)
		}
	}
	// The index of private contents, recomputed from what the snapshots
	// name (a commit only ever marks more).
	if err := s.resetPrivate(files, readable); err != nil {
		return err
	}
	private := map[Ref]bool{} // of the snapshots' contents only: an import's may be named yet
	for r := range files {
		if !readable[r] {
			private[r] = true
		}
	}
	for _, r := range live {
		files[r] = true
	}
	chunks := map[Ref]bool{}
	s.imports.each(func(w *Writer) { w.live(trees, files, chunks) })
	// Variants of what is kept are kept, but not of a content that every
	// snapshot naming it has readable by its owner only: /a/ would serve
	// the variant to anyone.
	deadVariants, err := s.markVariants(files, private)
	if err != nil {
		return fmt.Errorf("mark variants: %w", err)
	}
	for r := range files {
		f, err := s.File(r)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("mark file %s: %w", r.Short(), err)
		}
		for _, c := range f.Chunks {
			chunks[c] = true
		}
	}
	return s.sweep(trees, files, chunks, survivors, deadVariants, st)
}

// sweep deletes unmarked objects, and the validators of deleted files so
// that their (size, mtime) can be given again. survivors are the
// snapshots whose every object it marked.
func (s *Store) sweep(trees, files, chunks, survivors map[Ref]bool, variants [][]byte, st *GCStats) error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	// Index entries first in the batch: an entry never outlives the
	// variant it names.
	dead := variants
	collect := func(prefix byte, keep map[Ref]bool, count *int) error {
		return s.scan(prefix, func(k, v []byte) error {
			r, err := parseRefKey(prefix, k)
			if err != nil || keep[r] {
				return err
			}
			*count++
			if prefix == prefixChunk {
				st.ChunkBytes += int64(len(v))
			}
			dead = append(dead, append([]byte(nil), k...))
			if prefix == prefixFile {
				if f, err := decodeFile(r, v); err == nil {
					dead = append(dead, validatorKey(f.Size, f.MTime))
				}
			}
			return nil
		})
	}
	if err := collect(prefixTree, trees, &st.Trees); err != nil {
		return err
	}
	if err := collect(prefixFile, files, &st.Files); err != nil {
		return err
	}
	if err := collect(prefixChunk, chunks, &st.Chunks); err != nil {
		return err
	}
	if len(dead) == 0 {
		return nil
	}
	// Bumped, durably, before the first delete: a presence check that
	// overlaps the sweep is never trusted afterwards, and neither is a
	// stat cache entry written before it (statcache.go). Presence
	// markers of anything but a surviving snapshot go, durably, before
	// any object does. A survivor's marker stays true: the marks hold
	// every object it names, and a marker is only ever written for a
	// check that no sweep overlapped (markPresent). Keeping them keeps
	// activation and rollback O(1) after a gc.
	old := s.gen.Load()
	gen := s.gen.Add(1)
	// Not s.update: its free-space reserve would stop the GC that
	// frees space on a full disk; deletes, like this key, are tiny.
	err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(sweepsKey(), binary.BigEndian.AppendUint64(nil, gen))
	})
	if err == nil {
		err = s.Sync()
	}
	if err != nil {
		return fmt.Errorf("record sweep: %w", err)
	}
	if err := s.dropPresenceMarkers(survivors); err != nil {
		return err
	}
	for id := range survivors {
		if g, ok := s.present.Load(id); ok && g.(uint64) == old {
			s.present.Store(id, gen)
		}
	}
	for _, k := range dead {
		if err := wb.Delete(k); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	return s.Sync()
}

// dropPresenceMarkers deletes every presence marker but those of keep,
// and syncs.
func (s *Store) dropPresenceMarkers(keep map[Ref]bool) error {
	var keys [][]byte
	err := s.scan(prefixPresent, func(k, _ []byte) error {
		if r, err := parseRefKey(prefixPresent, k); err == nil && keep[r] {
			return nil
		}
		keys = append(keys, append([]byte(nil), k...))
		return nil
	})
	if err != nil || len(keys) == 0 {
		return err
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range keys {
		if err := wb.Delete(k); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	return s.Sync()
}

// reclaim gives disk space back: deleted values stay in the value log
// until compaction drops their keys and value-log GC rewrites the files
// (measured here: without the Flatten, GC of a log with 75% deleted
// chunks reclaimed nothing).
func (s *Store) reclaim(ctx context.Context, st *GCStats, progress func(string)) error {
	if s.dir == "" {
		return nil // in memory: nothing on disk
	}
	scratch := []byte{prefixScratch}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(scratch, nil) }); err != nil {
		return err
	}
	s.blockMu.Lock()
	err := s.db.DropPrefix(scratch)
	s.blockMu.Unlock()
	if err != nil {
		return fmt.Errorf("flush memtables: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	progress("compact")
	if err := s.db.Flatten(2); err != nil {
		return fmt.Errorf("flatten: %w", err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		progress("rewrite value log")
		err := s.db.RunValueLogGC(0.5)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("value log gc: %w", err)
		}
		st.VlogRewritten++
	}
}
