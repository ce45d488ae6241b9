package store

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

func history(t *testing.T, s *Store, name string, before time.Time) []Ref {
	t.Helper()
	var out []Ref
	if err := s.RefHistory(name, before, func(e LogEntry) bool { out = append(out, e.To); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

// A store written by schema 1 (no history index) gets the index at open.
func TestSchema1StoreGetsItsHistoryIndex(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, Options{})
	a := putTree(t, s, &Tree{Entries: []Entry{file("a")}})
	b := putTree(t, s, &Tree{Entries: []Entry{file("b")}})
	for _, id := range []Ref{a, b} {
		s.CommitSnapshot(SnapshotInfo{ID: id})
	}
	t0 := time.Now()
	s.SetRef("current", a, LogEntry{Time: t0})
	s.SetRef("current", b, LogEntry{Time: t0.Add(time.Second)})
	s.db.DropPrefix([]byte{prefixHistory})
	s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(schemaKey(), binary.BigEndian.AppendUint32(nil, 1))
	})
	s.Close()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := history(t, s, "current", t0.Add(time.Hour)); len(got) != 2 || got[0] != b || got[1] != a {
		t.Fatalf("history after migration: %v", got)
	}
	if got := history(t, s, "current", t0.Add(time.Millisecond)); len(got) != 1 || got[0] != a {
		t.Fatalf("history before the second activation: %v", got)
	}
}

// Concurrent activations never surface Badger's transaction conflicts, and
// the log and the ref agree at the end.
func TestConcurrentSetRef(t *testing.T) {
	eachStore(t, func(t *testing.T, s *Store) {
		var ids []Ref
		for i := 0; i < 4; i++ {
			id := putTree(t, s, &Tree{Entries: []Entry{file(string(rune('a' + i)))}})
			if _, err := s.CommitSnapshot(SnapshotInfo{ID: id}); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		var wg sync.WaitGroup
		for g := 0; g < 20; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 8; i++ {
					_, err := s.SetRef("current", ids[(g+i)%len(ids)], LogEntry{Time: time.Now()})
					if err != nil && !errors.Is(err, ErrUnchanged) {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		log, _ := s.Log()
		cur, _ := s.NamedRef("current")
		if len(log) == 0 || log[len(log)-1].To != cur {
			t.Fatalf("the log's last entry is not where the ref points")
		}
		if problems, _ := s.VerifyLog(); len(problems) > 0 {
			t.Fatal(problems)
		}
	})
}

// A presence check's success outlives a restart (the first activation
// after one does not walk the snapshot again) and every sweep the
// snapshot survives, and dies with the sweep that removes it.
func TestPresenceMarker(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, Options{})
	rec := putFile(t, s, []byte("kept"), 1)
	root := putTree(t, s, &Tree{Entries: []Entry{{Name: "f", Kind: KindFile, Mode: 0o644, Ref: rec.Ref, Size: rec.Size}}})
	if _, err := s.CommitSnapshot(SnapshotInfo{ID: root}); err != nil {
		t.Fatal(err)
	}
	if p, err := s.CheckPresent(root); err != nil || len(p) > 0 {
		t.Fatalf("check: %v %v", p, err)
	}
	s.Close()
	s, _ = Open(dir, Options{})
	defer s.Close()
	if ok, _ := s.has(presentKey(root)); !ok {
		t.Fatal("no presence marker after a reopen")
	}
	// A sweep that deletes nothing keeps the marker; one that deletes
	// something drops it.
	if _, err := s.GC(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.has(presentKey(root)); !ok {
		t.Fatal("a sweep that deleted nothing dropped the marker")
	}
	putFile(t, s, []byte("orphan"), 1)
	if st, err := s.GC(context.Background(), nil, nil); err != nil || st.Files != 1 {
		t.Fatalf("gc: %+v %v", st, err)
	}
	if ok, _ := s.has(presentKey(root)); !ok {
		t.Fatal("a sweep dropped the marker of a snapshot that survived it")
	}
	// A snapshot that does not survive a sweep loses its marker; the
	// same tree committed again is walked, and the check sees damage.
	if err := s.DeleteSnapshot(root, Removal{Why: "removed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.has(presentKey(root)); ok {
		t.Fatal("the marker outlived its snapshot's sweep")
	}
	rec = putFile(t, s, []byte("kept"), 1)
	putTree(t, s, &Tree{Entries: []Entry{{Name: "f", Kind: KindFile, Mode: 0o644, Ref: rec.Ref, Size: rec.Size}}})
	s.db.Update(func(txn *badger.Txn) error { return txn.Delete(chunkKey(rec.Chunks[0])) })
	if p, err := s.CheckPresent(root); err != nil || len(p) != 1 {
		t.Fatalf("check after the chunk went: %v %v", p, err)
	}
}
