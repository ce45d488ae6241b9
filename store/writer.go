package store

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// ErrImportEnded: a write to an import that was committed or aborted (by
// its owner, or by the daemon when the import's lease ran out).
var ErrImportEnded = errors.New("import already ended")

// A Writer is one import: it adds objects to the store, then commits a
// snapshot that names them, or is aborted. It owns the import from Begin
// to Commit or Abort: until then GC counts every object it wrote or relies
// on as live, so nothing it needs is swept from under it, and GC never
// waits for it (a writer holds gcMu shared only for single lookups and for
// its commit, and blockMu shared only while it hands a write to Badger).
// Several writers may run at once. Objects are committed every batchBytes
// and at Commit; a crash before Commit leaves at most unreferenced
// objects, which GC removes. Its methods are safe for concurrent use.
type Writer struct {
	s  *Store
	wb *batch

	mu   sync.Mutex
	done bool
	// chunks written or relied on -> length, when this import hashed the
	// bytes itself; -1 when it only learned that the store holds it.
	chunks map[Ref]int64
	files  map[Ref]int64    // file records written or relied on -> mtime
	trees  map[Ref]struct{} // trees written
	// taken are the validators this import knows are given (runs.go),
	// so that many same-size files with near mtimes (a generated tree)
	// cost one point lookup each instead of a rescan.
	taken takenRuns
	// fresh are chunks this import stored new and no file record has
	// named yet, with the count of ended imports then. A one-chunk file
	// whose chunk is fresh has no record in the store (a record is
	// written after its chunks and swept before them), unless an import
	// that stored the same chunk meanwhile wrote one and ended (an open
	// one's reservation gives this import the same record): while none
	// ended, putFile need not look. The lookup was a seventh of a first
	// import of a million small files.
	fresh map[Ref]uint64
	// incomplete are files this import recorded without having stored
	// or relied on every chunk they name (a caller's mistake, or a
	// damaged store): the commit's presence walk looks them up.
	incomplete map[Ref]struct{}

	// verify: file records come from a client that hashed the content
	// itself. They are held back and written only after Commit has
	// re-read their chunks and checked the content against the ref, so a
	// client cannot file bytes under another content's hash; and Commit
	// checks that everything the snapshot names is stored.
	verify  bool
	pending []*FileRecord
	// held are the contents whose records wait in pending. A stat cache
	// entry naming one is written to be checked at its use: it reaches
	// the store before its record does, and after a crash or an abort it
	// would otherwise vouch for content that is not there (the next
	// import of the same tree then failed). Holding the entries back
	// instead cost a 100,000-file import a fifth more CPU, in the
	// collector.
	held map[Ref]struct{}

	newBytes atomic.Int64 // bytes of chunks the store did not hold

	// created are the contents this import filed new: the commit makes
	// their variants (variants.go), and only theirs, so that a re-import
	// compresses what changed. given are contents whose variants another
	// node sent (sent, checked at commit). noCompress turns it off.
	created    map[Ref]struct{}
	given      map[Ref]bool
	sent       []VariantInfo
	noCompress bool
	vstats     VariantStats
}

// NewBytes is how many bytes of chunks this import wrote that the store
// did not hold before: the rest of what it named was already stored.
func (w *Writer) NewBytes() int64 { return w.newBytes.Load() }

// NewWriter starts an import.
func (s *Store) NewWriter() *Writer {
	w := &Writer{
		s:          s,
		wb:         newBatch(s),
		chunks:     map[Ref]int64{},
		files:      map[Ref]int64{},
		trees:      map[Ref]struct{}{},
		taken:      takenRuns{},
		fresh:      map[Ref]uint64{},
		incomplete: map[Ref]struct{}{},
		held:       map[Ref]struct{}{},
		created:    map[Ref]struct{}{},
		given:      map[Ref]bool{},
	}
	s.imports.add(w)
	return w
}

// NewVerifyingWriter is NewWriter for content hashed by someone else (a
// client of the daemon, later a peer): file records are written at Commit,
// once their chunks hash to their refs.
func (s *Store) NewVerifyingWriter() *Writer {
	w := s.NewWriter()
	w.verify = true
	return w
}

// relyOn runs check, which looks for an object in the store, and note,
// which records that the import relies on it, with GC's sweep held off:
// either the sweep ran before check (which then finds the object gone) or
// it runs after note (and then sees the object as live).
func (w *Writer) relyOn(check func() error, note func()) error {
	w.s.gcMu.RLock()
	defer w.s.gcMu.RUnlock()
	w.mu.Lock()
	done := w.done
	w.mu.Unlock()
	if done {
		return ErrImportEnded
	}
	if err := check(); err != nil {
		return err
	}
	w.mu.Lock()
	note()
	w.mu.Unlock()
	return nil
}

// PutChunk stores data as a chunk unless it is already stored, and returns
// its ref. data may be reused by the caller once PutChunk returns.
func (w *Writer) PutChunk(data []byte) (Ref, error) {
	ref, _, err := w.AddChunk(data)
	return ref, err
}

// AddChunk is PutChunk, also saying whether the bytes were new to the
// store: what a request that sent them added, whatever other requests of
// the import did meanwhile (NewBytes before and after is not).
func (w *Writer) AddChunk(data []byte) (ref Ref, added bool, err error) {
	ref = Sum(data)
	w.mu.Lock()
	n, seen := w.chunks[ref]
	w.mu.Unlock()
	if seen && n != chunkPending {
		return ref, false, nil
	}
	var stored bool
	err = w.relyOn(func() (err error) {
		stored, err = w.s.has(chunkKey(ref))
		return err
	}, func() {
		if stored {
			w.chunks[ref] = int64(len(data))
		} else if _, ok := w.chunks[ref]; !ok {
			// GC keeps it from now on, and nothing counts on it yet.
			w.chunks[ref] = chunkPending
		}
	})
	if err != nil || stored {
		return ref, false, err
	}
	if err := w.wb.set(chunkKey(ref), append([]byte(nil), data...)); err != nil {
		// Not stored: the commit must not count on it.
		w.mu.Lock()
		if w.chunks[ref] == chunkPending {
			delete(w.chunks, ref)
		}
		w.mu.Unlock()
		return ref, false, fmt.Errorf("put chunk %s: %w", ref, err)
	}
	w.newBytes.Add(int64(len(data)))
	released := w.s.imports.releases()
	w.mu.Lock()
	w.chunks[ref] = int64(len(data))
	w.fresh[ref] = released
	w.mu.Unlock()
	return ref, true, nil
}

// chunkPending marks a chunk whose bytes are on their way into the
// import's batch: GC keeps it, but nothing may count on it yet (a
// concurrent request asking about it, or the commit's presence check).
// It was once noted as present before the bytes were in the batch.
const chunkPending = -2

// CachedRef is Store.CachedRef for this import: a hit is content the
// import then relies on.
func (w *Writer) CachedRef(path string, cur StatEntry) (Ref, bool, error) {
	var ref Ref
	var ok bool
	err := w.relyOn(func() (err error) {
		ref, ok, err = w.s.CachedRef(path, cur)
		return err
	}, func() {
		if ok {
			w.files[ref] = 0
		}
	})
	return ref, ok, err
}

// CachedRefs answers each query with CachedRef, in one read of the
// store; a zero Ref is a miss. A hit whose entry had to be checked (it
// was written before a sweep, or while its record was held) is written
// again at this sweep count, so the next import need not check it.
func (w *Writer) CachedRefs(q []StatQuery) ([]Ref, error) {
	var out []Ref
	var checked []bool
	err := w.relyOn(func() (err error) {
		out, checked, err = w.s.cachedRefs(q)
		return err
	}, func() {
		for _, ref := range out {
			if !ref.IsZero() {
				w.files[ref] = 0
			}
		}
	})
	if err != nil {
		return out, err
	}
	for i, ref := range out {
		if !ref.IsZero() && checked[i] {
			e := q[i].Stat
			e.Ref = ref
			if err := w.putStat(w.wb, q[i].Path, e); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// HaveChunks reports, for each ref, whether the store already holds that
// chunk or this import wrote it; the import then relies on those it has,
// so GC keeps them until it ends. A client asks this before sending bytes.
func (w *Writer) HaveChunks(refs []Ref) ([]bool, error) {
	out := make([]bool, len(refs))
	for i, ref := range refs {
		w.mu.Lock()
		n, seen := w.chunks[ref]
		w.mu.Unlock()
		if seen && n != chunkPending {
			out[i] = true
			continue
		}
		var stored bool
		err := w.relyOn(func() (err error) {
			stored, err = w.s.has(chunkKey(ref))
			return err
		}, func() {
			if stored {
				w.chunks[ref] = -1
			}
		})
		if err != nil {
			return nil, err
		}
		out[i] = stored
	}
	return out, nil
}

// WantChunks returns the refs of those chunks the store lacks; the import
// relies on the others from then on.
func (w *Writer) WantChunks(refs []Ref) ([]Ref, error) {
	have, err := w.HaveChunks(refs)
	if err != nil {
		return nil, err
	}
	var want []Ref
	for i, ok := range have {
		if !ok {
			want = append(want, refs[i])
		}
	}
	return want, nil
}

// PutFile records a file's content. Content already in the store keeps
// the mtime it was given first. New content gets srcMTime (unix seconds),
// moved forward one second at a time until no other content of the same
// size has it, so that web servers' (mtime, size) validators never name
// two contents.
func (w *Writer) PutFile(ref Ref, size uint64, srcMTime int64, chunks []Ref) error {
	_, err := w.putFile(ref, size, srcMTime, chunks)
	return err
}

// putFile is PutFile, returning the mtime the content owns.
func (w *Writer) putFile(ref Ref, size uint64, srcMTime int64, chunks []Ref) (int64, error) {
	w.mu.Lock()
	m, seen := w.files[ref]
	released, fresh := w.fresh[ref]
	for _, c := range chunks {
		delete(w.fresh, c)
	}
	w.mu.Unlock()
	if seen && m != 0 {
		return m, nil
	}
	if fresh && len(chunks) == 1 && chunks[0] == ref && w.s.imports.releases() == released {
		return w.newFile(ref, size, srcMTime, chunks)
	}
	var old *FileRecord
	err := w.relyOn(func() (err error) {
		old, err = w.s.File(ref)
		if isNotFound(err) {
			return nil
		}
		return err
	}, func() {
		if old != nil {
			w.files[ref] = old.MTime
		}
	})
	if err != nil {
		return 0, fmt.Errorf("put file %s: %w", ref, err)
	}
	if old != nil {
		return old.MTime, nil
	}
	return w.newFile(ref, size, srcMTime, chunks)
}

// newFile gives new content its validator and writes (or, verifying,
// holds back) its record.
func (w *Writer) newFile(ref Ref, size uint64, srcMTime int64, chunks []Ref) (int64, error) {
	m, err := w.s.imports.validator(w.s, w, ref, size, srcMTime)
	if err != nil {
		return 0, fmt.Errorf("put file %s: %w", ref, err)
	}
	rec := &FileRecord{Ref: ref, Size: size, MTime: m, ChunkSize: ChunkSize, Chunks: chunks}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return 0, ErrImportEnded
	}
	w.files[ref] = m
	w.created[ref] = struct{}{}
	for _, c := range chunks {
		if n, ok := w.chunks[c]; !ok || n == chunkPending {
			w.incomplete[ref] = struct{}{}
			break
		}
	}
	if w.verify {
		w.pending = append(w.pending, rec)
		w.held[ref] = struct{}{}
		return m, nil
	}
	return m, putFileRecord(w.wb, rec)
}

func putFileRecord(wb *batch, rec *FileRecord) error {
	if err := wb.set(fileKey(rec.Ref), encodeFile(rec)); err != nil {
		return fmt.Errorf("put file %s: %w", rec.Ref, err)
	}
	if err := wb.set(validatorKey(rec.Size, rec.MTime), append([]byte(nil), rec.Ref[:]...)); err != nil {
		return fmt.Errorf("put file %s: %w", rec.Ref, err)
	}
	return nil
}

// PutTree checks and stores t and returns its ref.
func (w *Writer) PutTree(t *Tree) (Ref, error) {
	data, err := EncodeTree(t)
	if err != nil {
		return Ref{}, fmt.Errorf("put tree: %v: %w", err, ErrInvalid)
	}
	if err := CheckTree(t); err != nil {
		return Ref{}, fmt.Errorf("put tree: %w", err)
	}
	ref := Sum(data)
	w.mu.Lock()
	done := w.done
	w.trees[ref] = struct{}{}
	w.mu.Unlock()
	if done {
		return ref, ErrImportEnded
	}
	if err := w.wb.set(treeKey(ref), data); err != nil {
		return ref, fmt.Errorf("put tree %s: %w", ref, err)
	}
	return ref, nil
}

// PutStat records a stat cache entry with the import.
func (w *Writer) PutStat(path string, e StatEntry) error {
	if err := CheckStatPath(path); err != nil {
		return err
	}
	return w.putStat(w.wb, path, e)
}

// putStat sets a stat cache entry in wb. A file this import relied on, or
// stored directly, went into the store before this entry, and a sweep
// keeps it: the content is stored at this count. Any other ref (a record
// still held, a client's claim) is checked at every use.
func (w *Writer) putStat(wb *batch, path string, e StatEntry) error {
	w.mu.Lock()
	_, known := w.files[e.Ref]
	if _, held := w.held[e.Ref]; held {
		known = false
	}
	w.mu.Unlock()
	v := e.encodeUnswept()
	if known {
		v = e.encode(w.s.gen.Load())
	}
	if err := wb.set(statKey(path), v); err != nil {
		return fmt.Errorf("stat cache %s: %w", path, err)
	}
	return nil
}

// Abort ends the import without a snapshot. Safe to call more than once
// and after Commit.
func (w *Writer) Abort() {
	if !w.end() {
		return
	}
	w.wb.cancel()
	w.s.imports.remove(w)
}

// live adds what the import wrote or relies on to GC's marks.
func (w *Writer) live(trees, files, chunks map[Ref]bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for r := range w.trees {
		trees[r] = true
	}
	for r := range w.files {
		files[r] = true
	}
	for r := range w.chunks {
		chunks[r] = true
	}
}
