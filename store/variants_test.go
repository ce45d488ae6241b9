package store

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// gzipOnly is a compressor for the store's own tests (package precompress
// has the real one, and imports this package): every encoding is gzip.
type gzipOnly struct{}

func (gzipOnly) Wants(name string, size uint64) bool { return strings.HasSuffix(name, ".js") }

func (gzipOnly) Compress(enc Encoding, r io.Reader, size uint64) ([]byte, error) {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	io.Copy(w, r)
	w.Close()
	return b.Bytes(), nil
}

func (gzipOnly) Check(enc Encoding, v io.Reader, content Ref, size uint64) error {
	r, err := gzip.NewReader(v)
	if err != nil {
		return fmt.Errorf("%v: %w", err, ErrInvalid)
	}
	b, _ := io.ReadAll(io.LimitReader(r, int64(size)+1))
	if Sum(b) != content {
		return fmt.Errorf("other bytes: %w", ErrInvalid)
	}
	return nil
}

// commitJS commits a snapshot of one file app.js with content.
func commitJS(t *testing.T, s *Store, content []byte) (Ref, *FileRecord) {
	t.Helper()
	w := s.NewWriter()
	c, err := w.PutChunk(content)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.PutFile(c, uint64(len(content)), 1000, []Ref{c}); err != nil {
		t.Fatal(err)
	}
	root, err := w.PutTree(&Tree{Entries: []Entry{{Name: "app.js", Kind: KindFile, Mode: 0o644, Ref: c, Size: uint64(len(content))}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(SnapshotInfo{ID: root, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	rec, _ := s.File(c)
	return root, rec
}

// Verify finds a variant that does not decompress to its content, and
// the activation guard's presence check a variant whose chunk is gone.
func TestVerifyAndGuardCheckVariants(t *testing.T) {
	s, err := Open("", Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetCompressor(gzipOnly{})
	content := []byte(strings.Repeat("render();\n", 500))
	root, rec := commitJS(t, s, content)
	v, ok, err := s.Variant(rec.Ref, Gzip)
	if err != nil || !ok {
		t.Fatalf("no variant: %v", err)
	}
	if problems, err := s.Verify(root, nil); err != nil || len(problems) != 0 {
		t.Fatalf("verify of a sound store: %v %v", problems, err)
	}
	// Point the index at the variant of other bytes (a stored, sound
	// object of its own).
	_, other := commitJS(t, s, []byte(strings.Repeat("other();\n", 500)))
	ov, _, _ := s.Variant(other.Ref, Gzip)
	s.db.Update(func(txn *badger.Txn) error { return txn.Set(variantKey(rec.Ref, Gzip), ov[:]) })
	problems, err := s.Verify(root, nil)
	if err != nil || len(problems) != 1 || !errors.Is(problems[0].Err, ErrCorrupt) {
		t.Fatalf("verify of a variant of other bytes: %v %v", problems, err)
	}
	// Back to the true variant, then lose its chunk: the guard notices.
	s.db.Update(func(txn *badger.Txn) error { return txn.Set(variantKey(rec.Ref, Gzip), v[:]) })
	vrec, _ := s.File(v)
	s.db.Update(func(txn *badger.Txn) error { return txn.Delete(chunkKey(vrec.Chunks[0])) })
	s.present.Delete(root)
	s.db.Update(func(txn *badger.Txn) error { return txn.Delete(presentKey(root)) })
	problems, err = s.CheckPresent(root)
	if err != nil || len(problems) != 1 || !errors.Is(problems[0].Err, ErrNotFound) {
		t.Fatalf("presence check of a variant without its chunk: %v %v", problems, err)
	}
}

// An import without a compressor, or with compressing turned off, makes
// no variants; one with makes them for its new content only.
func TestVariantsOnlyOfNewContent(t *testing.T) {
	s, err := Open("", Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	content := []byte(strings.Repeat("first();\n", 500))
	_, rec := commitJS(t, s, content)
	s.SetCompressor(gzipOnly{})
	commitJS(t, s, content) // stored before: not compressed now
	if _, ok, _ := s.Variant(rec.Ref, Gzip); ok {
		t.Error("content stored before the compressor was set got a variant")
	}
	w := s.NewWriter()
	w.SetCompress(false)
	fresh := []byte(strings.Repeat("fresh();\n", 500))
	c, _ := w.PutChunk(fresh)
	w.PutFile(c, uint64(len(fresh)), 1000, []Ref{c})
	root, _ := w.PutTree(&Tree{Entries: []Entry{{Name: "b.js", Kind: KindFile, Mode: 0o644, Ref: c, Size: uint64(len(fresh))}}})
	if _, err := w.Commit(SnapshotInfo{ID: root, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Variant(c, Gzip); ok || w.VariantStats().Files != 0 {
		t.Error("SetCompress(false) made a variant")
	}
}

// panicky is a compressor with a bug.
type panicky struct{ gzipOnly }

func (panicky) Compress(Encoding, io.Reader, uint64) ([]byte, error) { panic("index out of range") }

// A compressor that panics fails the import with an error, and the
// process goes on.
func TestCompressorPanicFailsTheImport(t *testing.T) {
	s, err := Open("", Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetCompressor(panicky{})
	w := s.NewWriter()
	content := []byte(strings.Repeat("boom();\n", 500))
	c, _ := w.PutChunk(content)
	w.PutFile(c, uint64(len(content)), 1000, []Ref{c})
	root, _ := w.PutTree(&Tree{Entries: []Entry{{Name: "a.js", Kind: KindFile, Mode: 0o644, Ref: c, Size: uint64(len(content))}}})
	if _, err := w.Commit(SnapshotInfo{ID: root, Created: time.Now()}); err == nil || !strings.Contains(err.Error(), "--no-compress") {
		t.Fatalf("commit: %v", err)
	}
	if _, err := s.Snapshot(root); !errors.Is(err, ErrNotFound) {
		t.Errorf("the snapshot was recorded: %v", err)
	}
}
