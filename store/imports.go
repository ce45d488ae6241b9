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
	for v, r := range im.reserved {
		delete(r.owners, w)
		if len(r.owners) == 0 {
			delete(im.reserved, v)
			delete(im.byRef, r.ref)
		}
	}
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
// of this size. The index is read under im.mu: imports of new content
// wait on each other here for one short read, never on a client.
func (im *imports) validator(s *Store, w *Writer, ref Ref, size uint64, srcMTime int64) (int64, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	if v, ok := im.byRef[ref]; ok {
		im.reserved[v].owners[w] = struct{}{}
		return v[1], nil
	}
	start := validator{int64(size), srcMTime}
	m := srcMTime
	w.mu.Lock()
	if n, ok := w.next[start]; ok {
		m = n
	}
	w.mu.Unlock()
	for {
		free, err := s.firstFreeValidator(size, m)
		if err != nil {
			return 0, err
		}
		if _, taken := im.reserved[validator{int64(size), free}]; !taken {
			m = free
			break
		}
		m = free + 1
	}
	v := validator{int64(size), m}
	im.reserved[v] = &reservation{ref: ref, owners: map[*Writer]struct{}{w: {}}}
	im.byRef[ref] = v
	w.mu.Lock()
	w.next[start] = m + 1
	w.mu.Unlock()
	return m, nil
}
