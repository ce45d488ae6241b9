package store

import (
	"testing"
	"time"
)

// gcNow runs a GC and fails the test if it waits on an open import.
func gcNow(t *testing.T, s *Store) {
	t.Helper()
	done := make(chan error, 1)
	go func() { _, err := s.GC(nil, nil); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("gc: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gc waited more than 10s on an open import")
	}
}

// A GC between any two steps of an import deletes nothing the import wrote
// or relies on, and never waits for the import to end.
func TestGCBetweenEveryImportStep(t *testing.T) {
	eachStore(t, func(t *testing.T, s *Store) {
		old := putFile(t, s, []byte("already stored, no snapshot names it"), 1)
		w := s.NewWriter()
		gcNow(t, s)
		c, err := w.PutChunk([]byte("new content"))
		if err != nil {
			t.Fatal(err)
		}
		gcNow(t, s)
		if _, err := w.PutFile(c, 11, 1, []Ref{c}); err != nil {
			t.Fatal(err)
		}
		gcNow(t, s)
		// The import relies on content the store had before it began.
		if _, err := w.PutChunk([]byte("already stored, no snapshot names it")); err != nil {
			t.Fatal(err)
		}
		if _, err := w.PutFile(old.Ref, old.Size, 1, old.Chunks); err != nil {
			t.Fatal(err)
		}
		gcNow(t, s)
		root, err := w.PutTree(&Tree{Entries: []Entry{
			{Name: "a", Kind: KindFile, Mode: 0o644, Ref: c, Size: 11},
			{Name: "b", Kind: KindFile, Mode: 0o644, Ref: old.Ref, Size: old.Size},
		}})
		if err != nil {
			t.Fatal(err)
		}
		gcNow(t, s)
		if _, err := w.Commit(SnapshotInfo{ID: root, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
		gcNow(t, s)
		if problems, err := s.Verify(root, nil); err != nil || len(problems) > 0 {
			t.Fatalf("after GCs during the import: %v %v", problems, err)
		}
	})
}
