package store

import "sync"

// imports are the writers between Begin and Commit or Abort, and the
// validators they have given to new content but not yet committed: two
// imports running at once never give one (size, mtime) to two contents,
// nor two validators to one content.
type imports struct {
	mu       sync.Mutex
	writers  map[*Writer]struct{}
	reserved map[validator]*reservation
	byRef    map[Ref]validator
	// released counts the calls of remove: a validator found free in the
	// store's index before one may have been written by the import
	// removed, and is looked up again.
	released uint64
}

// validator is a content's (size, mtime), as web servers build ETags.
type validator [2]int64

type reservation struct {
	ref    Ref
	owners map[*Writer]struct{}
}

func newImports() *imports {
	return &imports{writers: map[*Writer]struct{}{}, reserved: map[validator]*reservation{}, byRef: map[Ref]validator{}}
}

func (im *imports) add(w *Writer) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.writers[w] = struct{}{}
}

// remove forgets w and releases its reservations: once it committed, its
// validators are in the store's index; once it aborted, they are free
// again (unless another open import gave the same content the same one).
func (im *imports) remove(w *Writer) {
	im.mu.Lock()
	defer im.mu.Unlock()
	delete(im.writers, w)
	im.released++
	for v, r := range im.reserved {
		delete(r.owners, w)
		if len(r.owners) == 0 {
			delete(im.reserved, v)
			delete(im.byRef, r.ref)
		}
	}
}

// releases returns how many imports have ended.
func (im *imports) releases() uint64 {
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.released
}

// each calls fn for every open import, for GC's marks.
func (im *imports) each(fn func(*Writer)) {
	im.mu.Lock()
	defer im.mu.Unlock()
	for w := range im.writers {
		fn(w)
	}
}

// validator returns the mtime that new content ref (not in the store) gets:
// the one another open import already gave it, or the first from srcMTime
// that neither the store's index nor an open import has given to content
// of this size.
//
// The index is read outside im.mu (holding it across the read serialized
// every worker of an import on one Badger lookup per new file). What the
// read found free is taken only if no import ended since it began: a
// validator in the index is either an ended import's or still reserved.
func (im *imports) validator(s *Store, w *Writer, ref Ref, size uint64, srcMTime int64) (int64, error) {
	im.mu.Lock()
	if v, ok := im.byRef[ref]; ok {
		im.reserved[v].owners[w] = struct{}{}
		im.mu.Unlock()
		return v[1], nil
	}
	released := im.released
	im.mu.Unlock()
	m := w.claim(size, srcMTime)
	for {
		free, err := s.firstFreeValidator(size, m)
		if err != nil {
			return 0, err
		}
		if free > m {
			w.mu.Lock()
			w.taken.add(int64(size), m, free-1)
			w.mu.Unlock()
		}
		im.mu.Lock()
		if v, ok := im.byRef[ref]; ok { // another import gave it one meanwhile
			im.reserved[v].owners[w] = struct{}{}
			im.mu.Unlock()
			return v[1], nil
		}
		if im.released != released {
			released = im.released
			im.mu.Unlock()
			continue
		}
		if _, taken := im.reserved[validator{int64(size), free}]; taken {
			im.mu.Unlock()
			m = w.claim(size, free+1)
			continue
		}
		m = free
		break
	}
	defer im.mu.Unlock()
	v := validator{int64(size), m}
	im.reserved[v] = &reservation{ref: ref, owners: map[*Writer]struct{}{w: {}}}
	im.byRef[ref] = v
	w.mu.Lock()
	w.taken.add(int64(size), m, m)
	w.mu.Unlock()
	return m, nil
}

// claim returns the first mtime from m on that w does not know to be
// given, and marks it given: the workers of one import that start from
// the same second (files of one size from one build second) try
// different candidates, not one of which only one can win.
func (w *Writer) claim(size uint64, m int64) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	m = w.taken.skip(int64(size), m)
	w.taken.add(int64(size), m, m)
	return m
}
