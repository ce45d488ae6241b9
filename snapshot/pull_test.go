package snapshot

import (
	"context"
	"errors"
	"testing"

	"github.com/vfs-project/vfs/store"
)

// memSource serves a store's objects as a peer would, with an optional
// lie about one file record.
type memSource struct {
	st  *store.Store
	lie map[store.Ref]*store.FileRecord
}

func (m memSource) Snapshot(id store.Ref) (store.SnapshotInfo, error) { return m.st.Snapshot(id) }

func (m memSource) FetchTrees(ctx context.Context, refs []store.Ref, fn func(store.Ref, *store.Tree) error) error {
	for _, r := range refs {
		t, err := m.st.Tree(r)
		if err != nil {
			return err
		}
		if err := fn(r, t); err != nil {
			return err
		}
	}
	return nil
}

func (m memSource) FetchFiles(ctx context.Context, refs []store.Ref, fn func(*store.FileRecord) error) error {
	for _, r := range refs {
		f, err := m.st.File(r)
		if err != nil {
			return err
		}
		if l, ok := m.lie[r]; ok {
			f = l
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func (m memSource) FetchChunks(ctx context.Context, refs []store.Ref, fn func(store.Ref, []byte) error) error {
	for _, r := range refs {
		b, err := m.st.Chunk(r)
		if err != nil {
			return err
		}
		if err := fn(r, b); err != nil {
			return err
		}
	}
	return nil
}

// A pulled snapshot is the same snapshot, with the origin's validators;
// a peer that lies about a file record gets nothing recorded.
func TestPull(t *testing.T) {
	src, dst := openStore(t), openStore(t)
	id := importMap(t, src, map[string]string{"index.html": "<h1>hi</h1>", "a/b/c.js": "c()", "a/d.css": "d{}"})
	info, st, err := Pull(context.Background(), memSource{st: src}, store.Verifying(dst), id, nil)
	if err != nil || info.ID != id || st.Trees != 3 || st.Files != 3 || st.Chunks != 3 {
		t.Fatalf("pull: %+v %+v %v", info, st, err)
	}
	for _, p := range []string{"index.html", "a/b/c.js"} {
		es, _ := Lookup(src, id, p)
		ed, err := Lookup(dst, id, p)
		fs, _ := src.File(es.Ref)
		fd, _ := dst.File(ed.Ref)
		if err != nil || fs.MTime != fd.MTime || readPath(t, dst, id, p) != readPath(t, src, id, p) {
			t.Errorf("%s differs after the pull", p)
		}
	}
	// Again: everything is there; nothing is fetched.
	if _, st, err := Pull(context.Background(), memSource{st: src}, store.Verifying(dst), id, nil); err != nil || st.Chunks != 0 || st.ChunksHad != 3 {
		t.Errorf("second pull: %+v %v", st, err)
	}
	// A peer that files its bytes under another content's hash.
	other := importMap(t, src, map[string]string{"x.js": "the real script"})
	victim, _ := Lookup(src, other, "x.js")
	evil, _ := src.File(victim.Ref)
	liar := *evil
	liar.Chunks = []store.Ref{store.Sum([]byte("<h1>hi</h1>"))} // bytes dst has
	fresh := openStore(t)
	_, _, err = Pull(context.Background(), memSource{st: src, lie: map[store.Ref]*store.FileRecord{victim.Ref: &liar}}, store.Verifying(fresh), other, nil)
	if !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("pull from a lying peer: %v, want ErrInvalid", err)
	}
	if _, err := fresh.Snapshot(other); err == nil {
		t.Fatal("a snapshot from a lying peer was recorded")
	}
}

// haveTrees is a target that holds some trees whole.
type haveTrees struct {
	Target
	whole map[store.Ref]bool
}

func (h haveTrees) HasTreeWhole(ref store.Ref) bool { return h.whole[ref] }

// A target that holds a subtree whole (the snapshot it serves) is sent
// neither that tree nor the records below it; the pulled snapshot is
// whole all the same.
func TestPullSkipsTreesHeldWhole(t *testing.T) {
	src, dst := openStore(t), openStore(t)
	files := map[string]string{"index.html": "v1", "lib/a.js": "a()", "lib/b.js": "b()", "lib/deep/c.js": "c()"}
	v1 := importMap(t, src, files)
	if _, _, err := Pull(context.Background(), memSource{st: src}, store.Verifying(dst), v1, nil); err != nil {
		t.Fatal(err)
	}
	files["index.html"] = "v2"
	v2 := importMap(t, src, files)
	lib, _ := Lookup(dst, v1, "lib")
	dstWhole := haveTrees{store.Verifying(dst), map[store.Ref]bool{lib.Ref: true}}
	_, st, err := Pull(context.Background(), memSource{st: src}, dstWhole, v2, nil)
	if err != nil || st.Trees != 1 || st.TreesHad != 1 || st.Files != 1 {
		t.Fatalf("pull with lib/ held whole: %+v %v (want 1 tree fetched, 1 held, 1 file record)", st, err)
	}
	if got := readPath(t, dst, v2, "lib/deep/c.js"); got != "c()" {
		t.Errorf("lib/deep/c.js = %q", got)
	}
}
