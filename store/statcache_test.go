package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// statFor stores content through a writer with a stat cache entry for path,
// as an import does, and returns the entry.
func statFor(t *testing.T, s *Store, path string, content []byte) StatEntry {
	t.Helper()
	w := s.NewWriter()
	ref, err := w.PutChunk(content)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.PutFile(Sum(content), uint64(len(content)), 1000, []Ref{ref}); err != nil {
		t.Fatal(err)
	}
	e := StatEntry{Size: uint64(len(content)), MTimeNs: 5, CTimeNs: 6, Ino: 7, Ref: Sum(content)}
	if err := w.PutStat(path, e); err != nil {
		t.Fatal(err)
	}
	flush(t, w)
	return e
}

func cached(t *testing.T, s *Store, path string, e StatEntry) bool {
	t.Helper()
	e.Ref = Ref{}
	_, ok, err := s.CachedRef(path, e)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// A stat cache entry is trusted without asking for its content while no
// sweep has run since it was written; a sweep that deletes its content,
// even one before a restart, makes it a miss.
func TestStatCacheAcrossSweeps(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	gone := statFor(t, s, "/src/gone.txt", []byte("deleted by the sweep"))
	kept := statFor(t, s, "/src/kept.txt", []byte("kept by a snapshot"))
	if !cached(t, s, "/src/gone.txt", gone) || !cached(t, s, "/src/kept.txt", kept) {
		t.Fatal("fresh entries miss")
	}
	changed := gone
	changed.MTimeNs++
	if cached(t, s, "/src/gone.txt", changed) {
		t.Fatal("an entry with another mtime hit")
	}
	root := putTree(t, s, &Tree{Entries: []Entry{{Name: "kept.txt", Kind: KindFile, Mode: 0o644, Ref: kept.Ref, Size: kept.Size}}})
	if _, err := s.CommitSnapshot(SnapshotInfo{ID: root}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.gen.Load() != 1 {
		t.Fatalf("sweep count %d after reopening, want 1", s.gen.Load())
	}
	if cached(t, s, "/src/gone.txt", gone) {
		t.Fatal("an entry whose content a sweep deleted hit after a restart")
	}
	if !cached(t, s, "/src/kept.txt", kept) {
		t.Fatal("an entry whose content is kept missed")
	}
}

// An entry for a content the import neither stored nor relied on (a
// client's claim through the socket) is checked at every use.
func TestStatCacheClaimIsChecked(t *testing.T) {
	s, err := Open("", Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := s.NewWriter()
	e := StatEntry{Size: 3, MTimeNs: 5, Ref: Sum([]byte("not stored"))}
	if err := w.PutStat("/src/claim.txt", e); err != nil {
		t.Fatal(err)
	}
	flush(t, w)
	if cached(t, s, "/src/claim.txt", e) {
		t.Fatal("a claimed content that is not stored hit")
	}
}

// Entries written by schema 3 (64 bytes, no sweep count) still read.
func TestStatCacheSchema3Entry(t *testing.T) {
	s, err := Open("", Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e := statFor(t, s, "/src/a.txt", []byte("a"))
	v := e.encodeUnswept()
	if len(v) != 64 {
		t.Fatalf("entry of %d bytes", len(v))
	}
	s.db.Update(func(txn *badger.Txn) error { return txn.Set(statKey("/src/a.txt"), v) })
	if !cached(t, s, "/src/a.txt", e) {
		t.Fatal("a schema-3 entry missed")
	}
	s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(statKey("/src/a.txt"), binary.BigEndian.AppendUint64(v, 0)[:70])
	})
	if _, _, err := s.CachedRef("/src/a.txt", e); err == nil {
		t.Fatal("a 70-byte entry was read")
	}
}

// A one-chunk file whose chunk an import stored new skips the lookup of
// its record, unless another import stored and recorded the same content
// meanwhile and ended: then its record, and its mtime, stand.
func TestFreshChunkRecordedByAnotherImport(t *testing.T) {
	s, err := Open("", Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	content := []byte("the same small file")
	ref := Sum(content)
	w1 := s.NewWriter()
	if _, err := w1.PutChunk(content); err != nil {
		t.Fatal(err)
	}
	w2 := s.NewWriter()
	if _, err := w2.PutChunk(content); err != nil {
		t.Fatal(err)
	}
	if err := w2.PutFile(ref, uint64(len(content)), 1000, []Ref{ref}); err != nil {
		t.Fatal(err)
	}
	flush(t, w2)
	if err := w1.PutFile(ref, uint64(len(content)), 2000, []Ref{ref}); err != nil {
		t.Fatal(err)
	}
	flush(t, w1)
	rec, err := s.File(ref)
	if err != nil {
		t.Fatal(err)
	}
	if rec.MTime != 1000 {
		t.Fatalf("the content's mtime became %d; the first record gave it 1000", rec.MTime)
	}
}

// A direct import's commit marks its snapshot present without looking its
// own files up, so its first activation does not walk them; a file it
// recorded without its chunks is looked up, and leaves no mark.
func TestDirectCommitMarksPresent(t *testing.T) {
	s, err := Open("", Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	commit := func(withChunk bool) Ref {
		content := []byte(fmt.Sprint("content ", withChunk))
		w := s.NewWriter()
		ref := Sum(content)
		if withChunk {
			if _, err := w.PutChunk(content); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.PutFile(ref, uint64(len(content)), 1000, []Ref{ref}); err != nil {
			t.Fatal(err)
		}
		root, err := w.PutTree(&Tree{Entries: []Entry{{Name: "f", Kind: KindFile, Mode: 0o644, Ref: ref, Size: uint64(len(content))}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Commit(SnapshotInfo{ID: root}); err != nil {
			t.Fatal(err)
		}
		return root
	}
	if ok, _ := s.has(presentKey(commit(true))); !ok {
		t.Error("a complete direct import was not marked present")
	}
	if ok, _ := s.has(presentKey(commit(false))); ok {
		t.Error("a direct import missing a chunk was marked present")
	}
}

// A verifying import's stat entries for contents whose records it still
// holds are checked at their use: a crash after some of its objects were
// written (a batch commits every 16 MiB), or an abort, leaves no entry the
// next import trusts for content the store lacks. Once the record is
// stored, the first hit writes the entry again at the sweep count, and
// later imports trust it without a lookup.
func TestStatEntriesWaitForTheirRecords(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := s.NewVerifyingWriter()
	data := []byte("content whose record the crash loses")
	ref, _ := w.PutChunk(data)
	if err := w.PutFile(ref, uint64(len(data)), 1, []Ref{ref}); err != nil {
		t.Fatal(err)
	}
	stat := StatEntry{Size: uint64(len(data)), MTimeNs: 1, CTimeNs: 2, Ino: 3}
	e := stat
	e.Ref = ref
	if err := w.PutStat("/src/a", e); err != nil {
		t.Fatal(err)
	}
	if err := w.wb.flush(); err != nil { // what a batch boundary writes
		t.Fatal(err)
	}
	s.Close() // the crash: no commit, no abort
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, ok, err := s.CachedRef("/src/a", stat); err != nil || ok {
		t.Fatalf("after a crash the stat cache vouches for %s (%v), whose record is not stored", got.Short(), err)
	}
	// An abort likewise.
	w = s.NewVerifyingWriter()
	w.PutChunk(data)
	w.PutFile(ref, uint64(len(data)), 1, []Ref{ref})
	w.PutStat("/src/b", e)
	w.wb.flush()
	w.Abort()
	if _, ok, err := s.CachedRef("/src/b", stat); err != nil || ok {
		t.Fatal("after an abort the stat cache vouches for content whose record is not stored")
	}
	// A committed import: the entry is checked once, then trusted.
	w = s.NewVerifyingWriter()
	w.PutChunk(data)
	w.PutFile(ref, uint64(len(data)), 1, []Ref{ref})
	w.PutStat("/src/c", e)
	root, _ := w.PutTree(&Tree{Entries: []Entry{{Name: "c", Kind: KindFile, Mode: 0o644, Ref: ref, Size: uint64(len(data))}}})
	if _, err := w.Commit(SnapshotInfo{ID: root}); err != nil {
		t.Fatal(err)
	}
	q := []StatQuery{{Path: "/src/c", Stat: stat}}
	for i, wantChecked := range []bool{true, false} {
		w := s.NewVerifyingWriter()
		_, checked, _ := s.cachedRefs(q)
		if refs, err := w.CachedRefs(q); err != nil || refs[0] != ref || checked[0] != wantChecked {
			t.Errorf("import %d after the commit: %v %v, checked %v", i+1, refs, err, checked[0])
		}
		w.Commit(SnapshotInfo{ID: root})
	}
}

// A chunk whose bytes are still on their way into the batch is kept by
// GC but counted on by nothing: not by another request asking for it, not
// by the commit's presence check.
func TestPendingChunkIsNotCountedOn(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := s.NewVerifyingWriter()
	defer w.Abort()
	ref := Sum([]byte("on its way"))
	w.chunks[ref] = chunkPending
	if have, err := w.HaveChunks([]Ref{ref}); err != nil || have[0] {
		t.Errorf("a pending chunk is reported held: %v %v", have, err)
	}
	rec := &FileRecord{Ref: ref, Size: 10, Chunks: []Ref{ref}}
	if _, ok := w.knownFile(map[Ref]*FileRecord{ref: rec}, Entry{Ref: ref}); ok {
		t.Error("the commit's presence check counts on a pending chunk")
	}
	trees, files, chunks := map[Ref]bool{}, map[Ref]bool{}, map[Ref]bool{}
	w.live(trees, files, chunks)
	if !chunks[ref] {
		t.Error("GC would sweep a pending chunk")
	}
	if _, added, err := w.AddChunk([]byte("on its way")); err != nil || !added || w.chunks[ref] != int64(len("on its way")) {
		t.Errorf("adding the pending chunk: added %v, %v, noted %d", added, err, w.chunks[ref])
	}
}
