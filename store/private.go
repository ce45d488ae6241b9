package store

import (
	"fmt"
	"sync"
)

// Private contents. /a/<hash> serves a content by hash to whoever asks,
// so it must be no more readable there than the snapshots make it: a
// file imported 0600 (a secret that slipped into a build) is unreadable at
// /current for the web server's user, and the hash of a guessable content
// is no secret. A content is private when no entry naming it in any
// snapshot is readable by others (mode o+r).
//
// The index errs on the side of private: a commit marks the contents it
// names only privately and unmarks those it names readable; a content
// that another snapshot holds readable stays marked until the next gc,
// which recomputes the index from every snapshot it keeps.

// privateSet is the index in memory, loaded at open: it holds the
// exceptions, usually none, and the mount asks it at every /a/ lookup.
type privateSet struct {
	mu   sync.RWMutex
	refs map[Ref]bool
}

func (p *privateSet) has(r Ref) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.refs[r]
}

func (p *privateSet) empty() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.refs) == 0
}

// Private reports whether no snapshot holds content ref readable by
// others (see above). Safe for concurrent use; it reads no disk.
func (s *Store) Private(ref Ref) bool { return s.private.has(ref) }

// loadPrivate reads the index into memory.
func (s *Store) loadPrivate() error {
	refs := map[Ref]bool{}
	err := s.scan(prefixPrivate, func(k, _ []byte) error {
		r, err := parseRefKey(prefixPrivate, k)
		if err != nil {
			return err
		}
		refs[r] = true
		return nil
	})
	s.private.refs = refs
	return err
}

// readableByOthers is the mode bit that decides.
const readableByOthers = 0o004

// privacy collects, while a commit's check reads each distinct tree,
// the contents named only privately and those named readable that the
// index marks private.
type privacy struct {
	tracked func(Ref) bool
	private map[Ref]bool
	public  map[Ref]bool
}

func newPrivacy(s *Store) *privacy {
	p := &privacy{private: map[Ref]bool{}, public: map[Ref]bool{}}
	if !s.private.empty() {
		p.tracked = s.private.has
	}
	return p
}

func (p *privacy) note(e Entry) {
	if e.Mode&readableByOthers == 0 {
		p.private[e.Ref] = true
	} else if p.tracked != nil && p.tracked(e.Ref) {
		p.public[e.Ref] = true
	}
}

// mark records the contents named only privately, in memory and on disk.
func (p *privacy) mark(s *Store) error {
	var add []Ref
	for r := range p.private {
		if !p.public[r] && !s.private.has(r) {
			add = append(add, r)
		}
	}
	return s.setPrivate(add, nil)
}

// unmark drops the marks of contents named readable.
func (p *privacy) unmark(s *Store) error {
	var drop []Ref
	for r := range p.public {
		drop = append(drop, r)
	}
	return s.setPrivate(nil, drop)
}

// setPrivate adds and drops marks, on disk and then in memory, under the
// index's lock so that a gc's reset does not interleave.
func (s *Store) setPrivate(add, drop []Ref) error {
	if len(add) == 0 && len(drop) == 0 {
		return nil
	}
	s.private.mu.Lock()
	defer s.private.mu.Unlock()
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, r := range add {
		if err := wb.Set(privateKey(r), nil); err != nil {
			return err
		}
	}
	for _, r := range drop {
		if err := wb.Delete(privateKey(r)); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("private contents: %w", err)
	}
	for _, r := range add {
		s.private.refs[r] = true
	}
	for _, r := range drop {
		delete(s.private.refs, r)
	}
	return nil
}

// resetPrivate replaces the index with exactly the contents private in
// the snapshots a gc keeps (readable: those some entry makes readable;
// named: every content they name). The caller holds gcMu.
func (s *Store) resetPrivate(named, readable map[Ref]bool) error {
	want := map[Ref]bool{}
	for r := range named {
		if !readable[r] {
			want[r] = true
		}
	}
	s.private.mu.Lock()
	defer s.private.mu.Unlock()
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for r := range s.private.refs {
		if !want[r] {
			if err := wb.Delete(privateKey(r)); err != nil {
				return err
			}
		}
	}
	for r := range want {
		if !s.private.refs[r] {
			if err := wb.Set(privateKey(r), nil); err != nil {
				return err
			}
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("private contents: %w", err)
	}
	s.private.refs = want
	return nil
}
