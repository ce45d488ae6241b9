package store

import (
	"bytes"
	"context"
	"math/rand"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

func TestGCReclaimsDiskAndKeepsWhatIsReferenced(t *testing.T) {
	s, err := Open(t.TempDir(), Options{ValueLogFileSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewSource(1))
	snapshotOf := func(name string, size int) (Ref, Ref) {
		content := make([]byte, size)
		rng.Read(content)
		rec := putFile(t, s, content, 1000)
		root := putTree(t, s, &Tree{Entries: []Entry{{Name: name, Kind: KindFile, Mode: 0o644, Ref: rec.Ref, Size: rec.Size}}})
		if _, err := s.CommitSnapshot(SnapshotInfo{ID: root, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
		return root, rec.Ref
	}
	keep, _ := snapshotOf("keep.bin", 3<<20)
	drop, dropFile := snapshotOf("drop.bin", 48<<20)
	open, openFile := snapshotOf("open.bin", 1<<20)
	if err := s.DeleteSnapshot(drop, Removal{Why: "removed"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSnapshot(open, Removal{Why: "removed"}); err != nil {
		t.Fatal(err)
	}
	st, err := s.GC(context.Background(), []Ref{openFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", st)
	if st.Files != 1 || st.Trees != 2 || st.Chunks != 48*4 {
		t.Errorf("deleted %d files, %d trees, %d chunks; want 1, 2, 192", st.Files, st.Trees, st.Chunks)
	}
	if st.BytesAfter > st.BytesBefore/2 {
		t.Errorf("disk went from %d to %d bytes: less than half of the 48 MB dropped came back", st.BytesBefore, st.BytesAfter)
	}
	if ok, _ := s.HasFile(dropFile); ok {
		t.Error("the dropped file's record survived")
	}
	if err := s.VerifyFile(openFile); err != nil {
		t.Errorf("a live file (open through the mount) was collected: %v", err)
	}
	if problems, err := s.Verify(keep, nil); err != nil || len(problems) > 0 {
		t.Errorf("kept snapshot after gc: %v %v", problems, err)
	}
}

func TestBackupAndRestore(t *testing.T) {
	src, _ := Open(t.TempDir(), Options{})
	defer src.Close()
	content := make([]byte, 3*ChunkSize)
	rand.New(rand.NewSource(2)).Read(content)
	rec := putFile(t, src, content, 1234)
	root := putTree(t, src, &Tree{Entries: []Entry{{Name: "v.bin", Kind: KindFile, Mode: 0o644, Ref: rec.Ref, Size: rec.Size}}})
	src.CommitSnapshot(SnapshotInfo{ID: root, Labels: []string{"x"}})
	src.SetRef("current", root, LogEntry{Time: time.Now()})
	sig := []byte("-----BEGIN SSH SIGNATURE-----\n(bytes the store keeps as given)\n-----END SSH SIGNATURE-----\n")
	if _, err := src.AddSignature(root, sig); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := src.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	dst, _ := Open(t.TempDir(), Options{})
	defer dst.Close()
	if err := dst.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if p, err := dst.Verify(root, nil); err != nil || len(p) > 0 {
		t.Fatalf("restored snapshot: %v %v", p, err)
	}
	if cur, _ := dst.NamedRef("current"); cur != root {
		t.Fatal("restored ref")
	}
	if got, _ := dst.File(rec.Ref); got.MTime != rec.MTime {
		t.Fatal("restored mtime differs: validators would change")
	}
	if sigs, err := dst.Signatures(root); err != nil || len(sigs) != 1 || !bytes.Equal(sigs[0], sig) {
		t.Fatalf("restored signatures: %q %v", sigs, err)
	}
	if err := dst.Restore(bytes.NewReader(buf.Bytes())); err == nil {
		t.Fatal("restore over a store with snapshots accepted")
	}
}

// A sweep keeps the presence markers of the snapshots that survive it, so
// activating or rolling back to one stays O(1) after a gc; a removed
// snapshot's marker goes. Whether a check walked is seen by damage made
// behind the store's back after the gc: a trusted marker does not see it.
func TestGCKeepsSurvivorsPresence(t *testing.T) {
	for _, restart := range []bool{false, true} {
		dir := t.TempDir()
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		snapshotOf := func(name, content string) (Ref, Ref) {
			rec := putFile(t, s, []byte(content), 1000)
			root := putTree(t, s, &Tree{Entries: []Entry{{Name: name, Kind: KindFile, Mode: 0o644, Ref: rec.Ref, Size: rec.Size}}})
			if _, err := s.CommitSnapshot(SnapshotInfo{ID: root, Created: time.Now()}); err != nil {
				t.Fatal(err)
			}
			if p, err := s.CheckPresent(root); err != nil || len(p) > 0 {
				t.Fatal(p, err)
			}
			return root, rec.Ref
		}
		keep, keepFile := snapshotOf("keep.html", "kept")
		drop, _ := snapshotOf("drop.html", "dropped")
		if err := s.DeleteSnapshot(drop, Removal{Why: "removed"}); err != nil {
			t.Fatal(err)
		}
		if st, err := s.GC(context.Background(), nil, nil); err != nil || st.Files != 1 || st.ChunkBytes != int64(len("dropped")) {
			t.Fatalf("gc: %+v %v", st, err)
		}
		if restart {
			s.Close()
			if s, err = Open(dir, Options{}); err != nil {
				t.Fatal(err)
			}
		}
		if ok, _ := s.has(presentKey(drop)); ok {
			t.Errorf("restart %v: the removed snapshot's marker survived the sweep", restart)
		}
		// Damage the survivor's file record behind the store's back: a
		// check that walks reports it, a kept marker does not.
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(fileKey(keepFile)) }); err != nil {
			t.Fatal(err)
		}
		if p, err := s.CheckPresent(keep); err != nil || len(p) != 0 {
			t.Errorf("restart %v: the survivor was walked again after the gc (%v %v)", restart, p, err)
		}
		s.Close()
	}
}
