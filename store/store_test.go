package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// eachStore runs a test against an in-memory and an on-disk store, the two
// ways a Store is opened.
func eachStore(t *testing.T, fn func(t *testing.T, s *Store)) {
	for _, mem := range []bool{true, false} {
		name := map[bool]string{true: "memory", false: "disk"}[mem]
		t.Run(name, func(t *testing.T) {
			s, err := Open(t.TempDir(), Options{InMemory: mem})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			fn(t, s)
		})
	}
}

// putFile stores content as a file with the given source mtime, the way an
// import does, and returns its record.
func putFile(t *testing.T, s *Store, content []byte, mtime int64) *FileRecord {
	t.Helper()
	w := s.NewWriter()
	var chunks []Ref
	for off := 0; off < len(content); off += ChunkSize {
		ref, err := w.PutChunk(content[off:min(off+ChunkSize, len(content))])
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, ref)
	}
	ref := Sum(content)
	if err := w.PutFile(ref, uint64(len(content)), mtime, chunks); err != nil {
		t.Fatal(err)
	}
	flush(t, w)
	rec, err := s.File(ref)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestReadAtAnyOffset(t *testing.T) {
	eachStore(t, func(t *testing.T, s *Store) {
		content := make([]byte, 3*ChunkSize+12345)
		rand.New(rand.NewSource(1)).Read(content)
		rec := putFile(t, s, content, 1000)
		if len(rec.Chunks) != 4 || rec.Size != uint64(len(content)) {
			t.Fatalf("record: %d chunks, size %d", len(rec.Chunks), rec.Size)
		}
		rng := rand.New(rand.NewSource(2))
		for i := 0; i < 200; i++ {
			off := rng.Int63n(int64(len(content)) + 10)
			buf := make([]byte, rng.Intn(2*ChunkSize))
			n, err := s.ReadAt(rec, buf, off)
			if err != nil {
				t.Fatal(err)
			}
			want := content[min(int(off), len(content)):min(int(off)+len(buf), len(content))]
			if !bytes.Equal(buf[:n], want) {
				t.Fatalf("ReadAt(off %d, len %d): %d bytes differ from content", off, len(buf), n)
			}
		}
		if err := s.VerifyFile(rec.Ref); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCorruptChunkIsNeverServed(t *testing.T) {
	eachStore(t, func(t *testing.T, s *Store) {
		content := append(bytes.Repeat([]byte("a"), ChunkSize), bytes.Repeat([]byte("b"), ChunkSize)...) // two chunks
		rec := putFile(t, s, content, 1000)
		bad := append([]byte(nil), content[:ChunkSize]...)
		bad[100] ^= 1
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(chunkKey(rec.Chunks[0]), bad) }); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, err := s.ReadAt(rec, buf, 0)
		if !errors.Is(err, ErrCorrupt) || n != 0 {
			t.Fatalf("ReadAt of a corrupted chunk: n=%d err=%v, want 0 and ErrCorrupt", n, err)
		}
		if _, err := s.ReadAt(rec, buf, ChunkSize); err != nil {
			t.Fatalf("the intact second chunk should still read: %v", err)
		}
		if err := s.VerifyFile(rec.Ref); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("VerifyFile: %v, want ErrCorrupt", err)
		}
		root := putTree(t, s, &Tree{Entries: []Entry{{Name: "f", Kind: KindFile, Mode: 0o644, Ref: rec.Ref, Size: rec.Size}}})
		problems, err := s.Verify(root, nil)
		if err != nil || len(problems) != 1 || problems[0].Path != "/f" {
			t.Fatalf("Verify: %v %v, want one problem at /f", problems, err)
		}
	})
}

func putTree(t *testing.T, s *Store, tr *Tree) Ref {
	t.Helper()
	w := s.NewWriter()
	ref, err := w.PutTree(tr)
	if err != nil {
		t.Fatal(err)
	}
	flush(t, w)
	return ref
}

// flush makes a writer's objects durable and ends it without recording a
// snapshot, as an import that crashed after its last sync would: the tests
// then commit snapshots, or leave objects unreferenced, by hand.
func flush(t *testing.T, w *Writer) {
	t.Helper()
	if !w.end() {
		t.Fatal("import already ended")
	}
	defer w.s.imports.remove(w)
	if err := w.wb.flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.writePending(); err != nil {
		t.Fatal(err)
	}
	if err := w.s.Sync(); err != nil {
		t.Fatal(err)
	}
}

func TestValidatorsNeverShared(t *testing.T) {
	eachStore(t, func(t *testing.T, s *Store) {
		a := putFile(t, s, []byte("<h1>v1</h1>"), 5000)
		b := putFile(t, s, []byte("<h1>v2</h1>"), 5000) // same size, same second
		if a.MTime != 5000 || b.MTime != 5001 {
			t.Fatalf("mtimes %d and %d, want 5000 and 5001", a.MTime, b.MTime)
		}
		again := putFile(t, s, []byte("<h1>v1</h1>"), 9999) // known content keeps its mtime
		if again.MTime != 5000 {
			t.Fatalf("known content got mtime %d, want 5000", again.MTime)
		}
		other := putFile(t, s, []byte("<h1>v3!</h1>"), 5000) // other size: no clash
		if other.MTime != 5000 {
			t.Fatalf("content of another size got mtime %d, want 5000", other.MTime)
		}
	})
}

func TestTreeRoundTripAndCorruptTree(t *testing.T) {
	tr := &Tree{Entries: []Entry{
		{Name: "z.js", Kind: KindFile, Mode: 0o644, Ref: Sum([]byte("z")), Size: 1},
		{Name: "a\xffb", Kind: KindDir, Mode: 0o755, Ref: Sum([]byte("d"))},
		{Name: "link", Kind: KindSymlink, Mode: 0o777, Target: "z.js"},
	}}
	data, err := EncodeTree(tr)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeTree(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.Entries[0].Name != "a\xffb" || back.Entries[2] != tr.Entries[2] {
		t.Fatalf("round trip: %+v", back.Entries)
	}
	if e, ok := back.Lookup("link"); !ok || e.Target != "z.js" {
		t.Fatalf("Lookup(link) = %+v %v", e, ok)
	}
	for cut := 0; cut < len(data); cut++ {
		if _, err := DecodeTree(data[:cut]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: %v, want ErrCorrupt", cut, err)
		}
	}
	if _, err := EncodeTree(&Tree{Entries: []Entry{{Name: "x", Kind: KindFile}, {Name: "x", Kind: KindFile}}}); err == nil {
		t.Fatal("duplicate names encoded")
	}
}

func TestRefParse(t *testing.T) {
	r := Sum([]byte("hello"))
	back, err := ParseRef(r.String())
	if err != nil || back != r {
		t.Fatalf("ParseRef(String()) = %v, %v", back, err)
	}
	for _, bad := range []string{"", "abc", r.String()[:63] + "g"} {
		if _, err := ParseRef(bad); err == nil {
			t.Errorf("ParseRef(%q) accepted", bad)
		}
	}
	if len(r.Short()) != ShortLen {
		t.Fatal("Short length")
	}
}

func TestSecondOpenIsBusy(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Open: %v, want ErrBusy", err)
	}
}

func TestSchemaVersionChecked(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.db.Update(func(txn *badger.Txn) error { return txn.Set(schemaKey(), []byte{0, 0, 0, 99}) })
	s.Close()
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrSchema) {
		t.Fatalf("Open of a schema-99 store: %v, want ErrSchema", err)
	}
}

func TestRefsAndChainedLog(t *testing.T) {
	eachStore(t, func(t *testing.T, s *Store) {
		var ids []Ref
		for i := 0; i < 3; i++ {
			id := putTree(t, s, &Tree{Entries: []Entry{{Name: string(rune('a' + i)), Kind: KindSymlink, Target: "x"}}})
			if _, err := s.CommitSnapshot(SnapshotInfo{ID: id, Created: time.Now()}); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		for _, id := range ids {
			if _, err := s.SetRef("current", id, LogEntry{Time: time.Now(), Reason: "deploy"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.SetRef("current", Sum([]byte("nope")), LogEntry{}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("SetRef to a missing snapshot: %v", err)
		}
		log, err := s.Log()
		if err != nil || len(log) != 3 || log[2].From != ids[1] || log[2].To != ids[2] || !log[0].From.IsZero() {
			t.Fatalf("log = %+v, %v", log, err)
		}
		if cur, _ := s.NamedRef("current"); cur != ids[2] {
			t.Fatalf("current = %s", cur.Short())
		}
		if err := s.DeleteSnapshot(ids[2], Removal{Why: "removed"}); !errors.Is(err, ErrInUse) {
			t.Fatalf("deleting the active snapshot: %v, want ErrInUse", err)
		}
		if p, _ := s.VerifyLog(); len(p) != 0 {
			t.Fatalf("clean log reported %v", p)
		}
		// Rewrite entry 2's reason: entry 3's chain hash no longer matches.
		s.db.Update(func(txn *badger.Txn) error {
			e := log[1]
			e.Reason = "edited"
			return putJSON(txn, logKey(2), e)
		})
		if p, _ := s.VerifyLog(); len(p) != 1 {
			t.Fatalf("edited log: %v, want one break", p)
		}
		s.db.Update(func(txn *badger.Txn) error { return txn.Delete(logKey(2)) })
		if p, _ := s.VerifyLog(); len(p) == 0 {
			t.Fatal("deleted log entry not detected")
		}
	})
}

func TestLabels(t *testing.T) {
	eachStore(t, func(t *testing.T, s *Store) {
		a := putTree(t, s, &Tree{Entries: []Entry{{Name: "a", Kind: KindSymlink, Target: "x"}}})
		b := putTree(t, s, &Tree{Entries: []Entry{{Name: "b", Kind: KindSymlink, Target: "x"}}})
		if _, err := s.CommitSnapshot(SnapshotInfo{ID: a, Labels: []string{"v1"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CommitSnapshot(SnapshotInfo{ID: b, Labels: []string{"v1"}}); !errors.Is(err, ErrLabelTaken) {
			t.Fatalf("label reuse: %v", err)
		}
		info, err := s.CommitSnapshot(SnapshotInfo{ID: a, Labels: []string{"release"}})
		if err != nil || len(info.Labels) != 2 {
			t.Fatalf("relabel: %+v %v", info, err)
		}
		if id, _ := s.Label("release"); id != a {
			t.Fatal("label release")
		}
		if err := s.DeleteSnapshot(a, Removal{Why: "removed"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Label("v1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("label of a deleted snapshot: %v", err)
		}
	})
}

func TestVerifyingWriterRefusesFalseContent(t *testing.T) {
	eachStore(t, func(t *testing.T, s *Store) {
		w := s.NewVerifyingWriter()
		c, _ := w.PutChunk([]byte("the real bytes"))
		claimed := Sum([]byte("something else"))
		if err := w.PutFile(claimed, 14, 1, []Ref{c}); err != nil {
			t.Fatal(err)
		}
		root, _ := w.PutTree(&Tree{Entries: []Entry{{Name: "x", Kind: KindFile, Mode: 0o644, Ref: claimed, Size: 14}}})
		if _, err := w.Commit(SnapshotInfo{ID: root}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("commit with a false file record: %v, want ErrInvalid", err)
		}
		if ok, _ := s.HasFile(claimed); ok {
			t.Fatal("a false file record was stored")
		}
		if _, err := s.Snapshot(root); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a snapshot was recorded: %v", err)
		}
		w = s.NewVerifyingWriter()
		c, _ = w.PutChunk([]byte("honest"))
		w.PutFile(c, 6, 1, []Ref{c})
		root, _ = w.PutTree(&Tree{Entries: []Entry{{Name: "x", Kind: KindFile, Mode: 0o644, Ref: c, Size: 6}}})
		if _, err := w.Commit(SnapshotInfo{ID: root}); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.HasFile(c); !ok {
			t.Fatal("an honest file record was not stored")
		}
	})
}

func TestManySameSizeFilesGetDistinctValidators(t *testing.T) {
	eachStore(t, func(t *testing.T, s *Store) {
		seen := map[int64]bool{}
		for batch := 0; batch < 2; batch++ {
			w := s.NewWriter()
			for i := 0; i < 500; i++ {
				content := []byte(fmt.Sprintf("%05d/%d", i, batch))
				ref, _ := w.PutChunk(content)
				m, err := w.putFile(ref, uint64(len(content)), 7000, []Ref{ref})
				if err != nil {
					t.Fatal(err)
				}
				if seen[m] {
					t.Fatalf("batch %d file %d: mtime %d given twice for one size", batch, i, m)
				}
				seen[m] = true
			}
			flush(t, w)
		}
		if !seen[7000] || !seen[7999] || len(seen) != 1000 {
			t.Fatalf("%d mtimes, want 7000..7999", len(seen))
		}
	})
}

// A kill right after Badger created a value-log or memtable file leaves it
// empty, and Badger v4.9.6 then refuses to open the store ("... Create a
// new file"; seen after kill -9 in integration/faults_test.go).
func TestEmptyValueLogFileLeftByACrash(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := putFile(t, s, []byte("survives"), 1)
	s.Close()
	for _, name := range []string{"000099.vlog", "00099.mem"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("open after an empty value-log file was left: %v", err)
	}
	defer s.Close()
	if err := s.VerifyFile(rec.Ref); err != nil {
		t.Fatal(err)
	}
}

// A snapshot's signatures are kept once each, bounded, and go with it.
func TestSignatures(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := putFile(t, s, []byte("signed"), 1000)
	root := putTree(t, s, &Tree{Entries: []Entry{{Name: "f", Kind: KindFile, Mode: 0o644, Ref: rec.Ref, Size: rec.Size}}})
	if _, err := s.AddSignature(root, []byte("sig")); !errors.Is(err, ErrNotFound) {
		t.Errorf("a signature of a snapshot not recorded: %v", err)
	}
	if _, err := s.CommitSnapshot(SnapshotInfo{ID: root, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for i := range MaxSignatures {
		if added, err := s.AddSignature(root, []byte{byte(i)}); err != nil || !added {
			t.Fatalf("signature %d: %v %v", i, added, err)
		}
	}
	if added, err := s.AddSignature(root, []byte{0}); err != nil || added {
		t.Errorf("the same signature again: added %v, %v", added, err)
	}
	if _, err := s.AddSignature(root, []byte("one too many")); !errors.Is(err, ErrTooManySignatures) || !errors.Is(err, ErrInvalid) {
		t.Errorf("signature %d: %v", MaxSignatures+1, err)
	}
	if _, err := s.AddSignature(root, make([]byte, MaxSignatureLen+1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("an oversized signature: %v", err)
	}
	if err := s.DeleteSnapshot(root, Removal{Why: "removed"}); err != nil {
		t.Fatal(err)
	}
	if sigs, err := s.Signatures(root); err != nil || len(sigs) != 0 {
		t.Errorf("signatures of a removed snapshot: %d %v", len(sigs), err)
	}
}
