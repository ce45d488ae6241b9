package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// gcNow runs a GC and fails the test if it waits on an open import.
func gcNow(t *testing.T, s *Store) {
	t.Helper()
	done := make(chan error, 1)
	go func() { _, err := s.GC(context.Background(), nil, nil); done <- err }()
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
		if err := w.PutFile(c, 11, 1, []Ref{c}); err != nil {
			t.Fatal(err)
		}
		gcNow(t, s)
		// The import relies on content the store had before it began.
		if _, err := w.PutChunk([]byte("already stored, no snapshot names it")); err != nil {
			t.Fatal(err)
		}
		if err := w.PutFile(old.Ref, old.Size, 1, old.Chunks); err != nil {
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

// Writes racing an Abort (the daemon aborting an import whose lease ran
// out while its client still sends) are refused cleanly; -race checks the
// writer's state.
func TestWritesRacingAbort(t *testing.T) {
	eachStore(t, func(t *testing.T, s *Store) {
		for round := 0; round < 20; round++ {
			w := s.NewVerifyingWriter()
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := 0; i < 50; i++ {
					data := []byte{byte(round), byte(i)}
					if _, err := w.PutChunk(data); err != nil && !errors.Is(err, ErrImportEnded) {
						t.Error(err)
					}
					r := Sum(data)
					if err := w.PutFile(r, 2, 1, []Ref{r}); err != nil && !errors.Is(err, ErrImportEnded) {
						t.Error(err)
					}
				}
			}()
			w.Abort()
			<-done
			if _, err := w.Commit(SnapshotInfo{}); !errors.Is(err, ErrImportEnded) {
				t.Fatalf("commit after abort: %v", err)
			}
		}
	})
}
