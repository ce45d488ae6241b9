package store

import (
	"context"
	"io/fs"
	"testing"
	"time"
)

// A content is private while no snapshot names it readable by others: a
// commit marks it, a commit that names it readable unmarks it, and a gc
// recomputes the mark from the snapshots it keeps. The mark survives a
// restart.
func TestPrivateContents(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := putFile(t, s, []byte("password=hunter2"), 1)
	snap := func(name string, mode uint32) Ref {
		root := putTree(t, s, &Tree{Entries: []Entry{{Name: name, Kind: KindFile, Mode: fs.FileMode(mode), Ref: rec.Ref, Size: rec.Size}}})
		if _, err := s.CommitSnapshot(SnapshotInfo{ID: root, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
		return root
	}
	secret := snap(".env", 0o600)
	if !s.Private(rec.Ref) {
		t.Fatal("a content imported only 0600 is not private")
	}
	s.Close()
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Private(rec.Ref) {
		t.Fatal("the mark did not survive a restart")
	}
	public := snap("env.txt", 0o644)
	if s.Private(rec.Ref) {
		t.Fatal("a content named 0644 by a snapshot is still private")
	}
	if err := s.DeleteSnapshot(public, Removal{Why: "removed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if !s.Private(rec.Ref) {
		t.Fatal("after gc, a content only the 0600 snapshot names is not private")
	}
	if err := s.DeleteSnapshot(secret, Removal{Why: "removed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if s.Private(rec.Ref) || len(s.private.refs) != 0 {
		t.Fatal("gc kept the mark of a content no snapshot names")
	}
}
