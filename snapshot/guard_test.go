package snapshot

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/vfs-project/vfs/store"
)

// Damage done to the files on disk, as a failing disk would: a byte of a
// chunk flipped inside Badger's value log. Activation checks presence
// only, so it goes ahead; --verify (full) re-hashes and refuses.
func TestGuardRefusesCorruptedChunk(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	content := make([]byte, 2*store.ChunkSize)
	rand.New(rand.NewSource(5)).Read(content)
	id := importMap(t, st, map[string]string{"index.html": "ok", "video.bin": string(content)})
	st.Close()
	flipInValueLog(t, dir, content[store.ChunkSize+1000:store.ChunkSize+1064])

	st, err = store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = Guard(st, id, true)
	if !errors.Is(err, store.ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte("/video.bin")) {
		t.Fatalf("full guard of a corrupted snapshot: %v, want ErrCorrupt naming /video.bin", err)
	}
	if n := bytes.Count([]byte(err.Error()), []byte("hash mismatch")); n != 1 {
		t.Errorf("the cause is said %d times: %v", n, err)
	}
	if _, err := Activate(st, DefaultRef, id, Who{}, ""); err != nil {
		t.Fatalf("presence check refused a snapshot whose objects are all present: %v", err)
	}
	rep, _ := Verify(context.Background(), st, nil, nil)
	if len(rep.Problems) != 1 || rep.Problems[0].Path != "/video.bin" {
		t.Fatalf("verify: %+v", rep.Problems)
	}
}

// flipInValueLog finds needle in the store's value log files and flips one
// of its bytes.
func flipInValueLog(t *testing.T, dir string, needle []byte) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, needle); i >= 0 {
			b[i+10] ^= 0xff
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatal("chunk bytes not found in the value log")
}

// A chunk missing from the store (lost, or collected by mistake) refuses
// the activation even without --verify.
func TestGuardRefusesMissingChunk(t *testing.T) {
	st := openStore(t)
	content := make([]byte, 3*store.ChunkSize)
	rand.New(rand.NewSource(6)).Read(content)
	id := importMap(t, st, map[string]string{"video.bin": string(content)})
	e, _ := Lookup(st, id, "video.bin")
	rec, _ := st.File(e.Ref)
	// Remove the snapshot and collect its objects, then write back only
	// its file record and tree: the chunks are gone.
	other := importMap(t, st, map[string]string{"x": "y"})
	Activate(st, DefaultRef, other, Who{}, "")
	if err := st.DeleteSnapshot(id, store.Removal{Why: "removed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GC(context.Background(), []store.Ref{}, nil); err != nil {
		t.Fatal(err)
	}
	w := st.NewWriter()
	if err := w.PutFile(rec.Ref, rec.Size, rec.MTime, rec.Chunks); err != nil {
		t.Fatal(err)
	}
	root, _ := w.PutTree(&store.Tree{Entries: []store.Entry{e}})
	if _, err := w.Commit(store.SnapshotInfo{ID: root}); err != nil {
		t.Fatal(err)
	}
	_, err := Activate(st, DefaultRef, root, Who{}, "")
	if !errors.Is(err, store.ErrNotFound) || !bytes.Contains([]byte(err.Error()), []byte("refusing to activate")) {
		t.Fatalf("activation of a snapshot missing chunks: %v", err)
	}
	if cur, _ := st.NamedRef(DefaultRef); cur != other {
		t.Fatal("a refused activation moved the ref")
	}
}
