package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// twoSnapshots commits two one-file snapshots and returns their ids.
func twoSnapshots(t *testing.T, s *Store, labels ...string) (Ref, Ref) {
	t.Helper()
	var ids []Ref
	for _, c := range []string{"one", "two"} {
		rec := putFile(t, s, []byte(c), 1)
		root := putTree(t, s, &Tree{Entries: []Entry{{Name: "f", Kind: KindFile, Mode: 0o644, Ref: rec.Ref, Size: rec.Size}}})
		if _, err := s.CommitSnapshot(SnapshotInfo{ID: root, Labels: labels}); err != nil {
			t.Fatal(err)
		}
		labels = nil
		ids = append(ids, root)
	}
	return ids[0], ids[1]
}

// Labels move and go; pinning is its own act, and a pinned snapshot is
// not removed.
func TestLabelsMoveAndPinsHold(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, b := twoSnapshots(t, s, "stable")
	if err := s.AddLabel(b, "stable"); !errors.Is(err, ErrLabelTaken) {
		t.Fatalf("AddLabel of a taken label: %v", err)
	}
	from, err := s.MoveLabel(b, "stable")
	if err != nil || from != a {
		t.Fatalf("move: %s %v", from.Short(), err)
	}
	if id, _ := s.Label("stable"); id != b {
		t.Fatalf("the label names %s", id.Short())
	}
	if info, _ := s.Snapshot(a); len(info.Labels) != 0 {
		t.Fatalf("the old snapshot keeps the label: %v", info.Labels)
	}
	if from, err := s.RemoveLabel("stable"); err != nil || from != b {
		t.Fatalf("remove: %s %v", from.Short(), err)
	}
	if _, err := s.Label("stable"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a removed label: %v", err)
	}
	if _, err := s.RemoveLabel("stable"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing it again: %v", err)
	}
	if err := s.SetPinned(a, true); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSnapshot(a, Removal{Why: "removed"}); !errors.Is(err, ErrInUse) {
		t.Fatalf("delete of a pinned snapshot: %v", err)
	}
	s.SetPinned(a, false)
	if err := s.DeleteSnapshot(a, Removal{Why: "removed"}); err != nil {
		t.Fatalf("delete after unpinning: %v", err)
	}
}

// A store of schema 2, where labels kept snapshots from retention, opens
// with its labelled snapshots pinned, so that the upgrade makes none of
// them prunable.
func TestSchema2LabelsBecomePins(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, Options{})
	labelled, plain := twoSnapshots(t, s, "release-1")
	// Write the records as schema 2 did: no pinned field.
	err := s.db.Update(func(txn *badger.Txn) error {
		for _, id := range []Ref{labelled, plain} {
			info, err := snapshotIn(txn, id)
			if err != nil {
				return err
			}
			var m map[string]any
			b, _ := json.Marshal(info)
			json.Unmarshal(b, &m)
			delete(m, "pinned")
			b, _ = json.Marshal(m)
			if err := txn.Set(snapshotKey(id), b); err != nil {
				return err
			}
		}
		return txn.Set(schemaKey(), binary.BigEndian.AppendUint32(nil, 2))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if info, _ := s.Snapshot(labelled); !info.Pinned {
		t.Error("a labelled snapshot of schema 2 is not pinned")
	}
	if info, _ := s.Snapshot(plain); info.Pinned {
		t.Error("an unlabelled snapshot was pinned")
	}
	if v, _ := s.get(schemaKey()); binary.BigEndian.Uint32(v) != SchemaVersion {
		t.Errorf("schema %x after the migration", v)
	}
}
