package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/zeebo/blake3"
)

// A Problem is one damaged or missing object found by Verify.
type Problem struct {
	Path string // a path in the snapshot that reaches the object
	Ref  Ref
	Err  error
}

func (p Problem) String() string { return fmt.Sprintf("%s (%s): %v", p.Path, p.Ref.Short(), p.Err) }

// Error makes a Problem an error that unwraps to its cause, so that a
// message names the cause once.
func (p Problem) Error() string { return p.String() }
func (p Problem) Unwrap() error { return p.Err }

// VerifyFile re-reads every chunk of file ref, checking each chunk's hash,
// the whole content's hash and the size.
func (s *Store) VerifyFile(ref Ref) error {
	f, err := s.File(ref)
	if err != nil {
		return err
	}
	return s.checkContent(f)
}

// checkContent reads f's chunks and checks them against f's ref and size.
func (s *Store) checkContent(f *FileRecord) error {
	ref := f.Ref
	if uint64(len(f.Chunks)) != ChunksFor(f.Size) {
		return fmt.Errorf("file %s: %d chunks for %d bytes: %w", ref, len(f.Chunks), f.Size, ErrCorrupt)
	}
	h := blake3.New()
	var size uint64
	for i, c := range f.Chunks {
		data, err := s.Chunk(c)
		if err != nil {
			return fmt.Errorf("file %s chunk %d: %w", ref, i, err)
		}
		if i < len(f.Chunks)-1 && len(data) != int(f.ChunkSize) {
			return fmt.Errorf("file %s chunk %d: %d bytes, want %d: %w", ref, i, len(data), f.ChunkSize, ErrCorrupt)
		}
		h.Write(data)
		size += uint64(len(data))
	}
	if size != f.Size || Ref(h.Sum(nil)) != ref {
		return fmt.Errorf("file %s: content does not match its record: %w", ref, ErrCorrupt)
	}
	return nil
}

// Verify checks every object reachable from tree root. seen holds refs
// already checked (shared between snapshots so each object is read once);
// nil checks everything. It returns the problems found; err is reserved for
// failures of the store itself.
func (s *Store) Verify(root Ref, seen map[Ref]bool) ([]Problem, error) {
	return s.VerifyContext(context.Background(), root, seen, nil)
}

// VerifyContext is Verify that stops when ctx ends (returning its error)
// and calls checked, if set, after each file it re-hashed.
func (s *Store) VerifyContext(ctx context.Context, root Ref, seen map[Ref]bool, checked func(size uint64)) ([]Problem, error) {
	if seen == nil {
		seen = map[Ref]bool{}
	}
	var problems []Problem
	err := WalkDistinct(s, root, func(path string, e Entry) error {
		if e.Kind != KindFile || seen[e.Ref] {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		seen[e.Ref] = true
		if checked != nil {
			defer checked(e.Size)
		}
		err := s.VerifyFile(e.Ref)
		if err == nil {
			// Its variants: their hashes and, with a compressor, that
			// each decompresses to the content.
			var f *FileRecord
			if f, err = s.File(e.Ref); err == nil {
				err = s.verifyVariants(f)
			}
		}
		if err != nil {
			if !damage(err) {
				return err
			}
			problems = append(problems, Problem{Path: path, Ref: e.Ref, Err: err})
		}
		return nil
	}, func(path string, ref Ref, err error) error {
		problems = append(problems, Problem{Path: path, Ref: ref, Err: err})
		return nil
	})
	return problems, err
}

func damage(err error) bool { return errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotFound) }

// Walk calls fn for every entry below tree root, depth first in name order,
// with its slash-separated path. A tree that is missing or corrupt is passed
// to bad (which may return nil to go on) and not descended into.
func Walk(r TreeReader, root Ref, fn func(path string, e Entry) error, bad func(path string, ref Ref, err error) error) error {
	return walk(r, "", root, nil, fn, bad)
}

// WalkDistinct is Walk that enters each distinct tree once, at the first
// path that reaches it: what holds of objects (presence, GC's marks,
// hashes) is learned from each directory once, so a snapshot that names
// one directory at 2^40 paths costs its trees, not its paths.
func WalkDistinct(r TreeReader, root Ref, fn func(path string, e Entry) error, bad func(path string, ref Ref, err error) error) error {
	return walk(r, "", root, map[Ref]bool{root: true}, fn, bad)
}

// walk is Walk below dir; with seen, a tree already entered is not
// entered again.
func walk(r TreeReader, dir string, ref Ref, seen map[Ref]bool, fn func(string, Entry) error, bad func(string, Ref, error) error) error {
	t, err := r.Tree(ref)
	if err != nil {
		if damage(err) && bad != nil {
			return bad(dir+"/", ref, err)
		}
		return err
	}
	for _, e := range t.Entries {
		p := dir + "/" + e.Name
		if err := fn(p, e); err != nil {
			return err
		}
		if e.Kind != KindDir || (seen != nil && seen[e.Ref]) {
			continue
		}
		if seen != nil {
			seen[e.Ref] = true
		}
		if err := walk(r, p, e.Ref, seen, fn, bad); err != nil {
			return err
		}
	}
	return nil
}

// CheckPresent is Verify's fast form: it reads (and so verifies) every tree
// below root and checks that every file record and chunk it names exists,
// and that the tree's sizes are the records', without reading content. A
// success is remembered until the next sweep (the only way objects leave),
// so activating a snapshot again costs nothing.
//
// The success is kept twice: in memory with the sweep generation, and on
// disk as a marker (key family k) that the next sweep deletes, so that the
// first activation after a restart or a direct import does not walk a
// million files again.
func (s *Store) CheckPresent(root Ref) ([]Problem, error) {
	return s.checkPresent(root, false, nil)
}

// checkPresent is CheckPresent; locked says the caller holds gcMu shared
// (a commit), which then also covers the marker's write. known, if set,
// gives the size of a file whose record and chunks the caller vouches for
// (an import's own), so that the store is not asked.
func (s *Store) checkPresent(root Ref, locked bool, known func(Entry) (uint64, bool)) ([]Problem, error) {
	gen := s.gen.Load()
	if g, ok := s.present.Load(root); ok && g.(uint64) == gen {
		return nil, nil
	}
	if ok, err := s.has(presentKey(root)); err == nil && ok {
		s.present.Store(root, gen)
		return nil, nil
	}
	var problems []Problem
	bad := func(path string, ref Ref, err error) error {
		problems = append(problems, Problem{Path: path, Ref: ref, Err: err})
		return nil
	}
	sizes := map[Ref]uint64{} // file records already looked up
	err := WalkDistinct(s, root, func(path string, e Entry) error {
		if e.Kind != KindFile {
			return nil
		}
		if size, ok := sizes[e.Ref]; ok {
			if size != e.Size {
				return bad(path, e.Ref, fmt.Errorf("the tree says %d bytes, the content has %d: %w", e.Size, size, ErrInvalid))
			}
			return nil
		}
		if known != nil {
			if size, ok := known(e); ok {
				if size != e.Size {
					return bad(path, e.Ref, fmt.Errorf("the tree says %d bytes, the content has %d: %w", e.Size, size, ErrInvalid))
				}
				return nil
			}
		}
		f, err := s.File(e.Ref)
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
			return bad(path, e.Ref, err)
		}
		if err != nil {
			return err
		}
		sizes[e.Ref] = f.Size
		if f.Size != e.Size {
			return bad(path, e.Ref, fmt.Errorf("the tree says %d bytes, the content has %d: %w", e.Size, f.Size, ErrInvalid))
		}
		for _, c := range f.Chunks {
			if ok, err := s.HasChunk(c); err != nil {
				return err
			} else if !ok {
				return bad(path, c, fmt.Errorf("chunk %s: %w", c.Short(), ErrNotFound))
			}
		}
		// Its variants too: the mount serves them beside the file.
		err = s.db.View(func(txn *badger.Txn) error { return s.variantsPresent(txn, e.Ref) })
		if damage(err) {
			return bad(path, e.Ref, err)
		}
		return err
	}, bad)
	if err == nil && len(problems) == 0 {
		// Stored with the generation read before the walk: a sweep that
		// ran during it makes this result stale at once.
		s.present.Store(root, gen)
		s.markPresent(root, gen, locked)
	}
	return problems, err
}

// markPresent writes root's presence marker if no sweep has run since gen,
// with sweeps held off (gcMu) so that none can run between the check and
// the write. A failed write (a read-only store) only costs a later walk.
func (s *Store) markPresent(root Ref, gen uint64, locked bool) {
	if !locked {
		s.gcMu.RLock()
		defer s.gcMu.RUnlock()
	}
	if s.gen.Load() != gen {
		return
	}
	s.update(func(txn *badger.Txn) error { return txn.Set(presentKey(root), nil) })
}
