package snapshot

import (
	"compress/gzip"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/vfs-project/vfs/precompress"
	"github.com/vfs-project/vfs/store"
)

func openCompressing(t *testing.T) *store.Store {
	t.Helper()
	st := openStore(t)
	c, _ := precompress.New(nil)
	st.SetCompressor(c)
	return st
}

func textOf(seed string) string {
	return strings.Repeat("export const "+seed+" = () => document.querySelectorAll('.row').length;\n", 80)
}

// variantBytes returns the decompressed bytes of the variant of the file at
// p, and whether it has one.
func variantBytes(t *testing.T, st *store.Store, id store.Ref, p string, enc store.Encoding) ([]byte, bool) {
	t.Helper()
	e, err := Lookup(st, id, p)
	if err != nil {
		t.Fatal(err)
	}
	ref, ok, err := st.Variant(e.Ref, enc)
	if err != nil || !ok {
		return nil, false
	}
	r, err := OpenFile(st, ref)
	if err != nil {
		t.Fatal(err)
	}
	var d io.Reader
	if enc == store.Gzip {
		if d, err = gzip.NewReader(r); err != nil {
			t.Fatal(err)
		}
	} else {
		d = brotli.NewReader(r)
	}
	b, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	return b, true
}

// An import compresses the text files new to the store, each once: not an
// image, not random bytes under a text name, not a file under 1 KiB, not a
// file readable by its owner only; a re-import with one file changed
// compresses that file alone; --no-compress none.
func TestImportMakesVariants(t *testing.T) {
	st := openStore(t)
	comp, _ := precompress.New(nil)
	counted := &countingCompressor{Compressor: comp}
	st.SetCompressor(counted)
	noise := make([]byte, 8192)
	rand.Read(noise)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"index.html":        textOf("page"),
		"assets/app.js":     textOf("app"),
		"assets/style.css":  textOf("style"),
		"assets/logo.png":   textOf("png"), // compressible bytes, but not a type compressed
		"assets/random.js":  string(noise),
		"assets/small.js":   "x()",
		"assets/secret.txt": textOf("secret"),
	})
	os.Chmod(filepath.Join(dir, "assets/secret.txt"), 0o600)
	res, err := ImportDir(context.Background(), st, dir, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Snapshot.ID
	if c := res.Stats.Compressed; c.Files != 4 || c.Variants != 6 || c.Workers < 1 {
		t.Errorf("compressed %+v; want 4 files (3 texts, the random .js) and 6 variants", c)
	}
	for _, p := range []string{"index.html", "assets/app.js", "assets/style.css"} {
		for _, enc := range store.Encodings {
			got, ok := variantBytes(t, st, id, p, enc)
			if !ok || string(got) != readPath(t, st, id, p) {
				t.Errorf("%s %s: variant %v, does not decompress to the file", p, enc, ok)
			}
		}
	}
	for _, p := range []string{"assets/logo.png", "assets/random.js", "assets/small.js", "assets/secret.txt"} {
		for _, enc := range store.Encodings {
			if _, ok := variantBytes(t, st, id, p, enc); ok {
				t.Errorf("%s has a %s variant", p, enc)
			}
		}
	}
	if problems, err := st.Verify(id, nil); err != nil || len(problems) > 0 {
		t.Errorf("verify: %v %v", problems, err)
	}
	// Random bytes that gzip could not shrink are not tried with brotli.
	if n := counted.brotli.Load(); n != 3 {
		t.Errorf("brotli ran %d times; want 3, for the files gzip shrank", n)
	}

	// One file changed: it alone is compressed.
	os.WriteFile(filepath.Join(dir, "assets/app.js"), []byte(textOf("app2")), 0o644)
	res, err = ImportDir(context.Background(), st, dir, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Stats.Compressed; c.Files != 1 || c.Variants != 2 {
		t.Errorf("re-import compressed %+v; want the changed file", c)
	}
	// The same tree in another directory: no content is new, none is
	// compressed again.
	dir2 := t.TempDir()
	writeTree(t, dir2, map[string]string{"copy.js": textOf("page")})
	if res, err = ImportDir(context.Background(), st, dir2, ImportOptions{}); err != nil || res.Stats.Compressed.Files != 0 {
		t.Errorf("an import of stored content compressed %+v (%v)", res.Stats.Compressed, err)
	}
	dir3 := t.TempDir()
	writeTree(t, dir3, map[string]string{"new.js": textOf("fresh")})
	res, err = ImportDir(context.Background(), st, dir3, ImportOptions{NoCompress: true})
	if err != nil || res.Stats.Compressed.Files != 0 {
		t.Errorf("--no-compress compressed %+v (%v)", res.Stats.Compressed, err)
	}
	if _, ok := variantBytes(t, st, res.Snapshot.ID, "new.js", store.Gzip); ok {
		t.Error("--no-compress made a variant")
	}
}

// countingCompressor counts brotli's runs.
type countingCompressor struct {
	*precompress.Compressor
	brotli atomic.Int64
}

func (c *countingCompressor) Compress(enc store.Encoding, r io.Reader, size uint64) ([]byte, error) {
	if enc == store.Brotli {
		c.brotli.Add(1)
	}
	return c.Compressor.Compress(enc, r, size)
}

// GC keeps the variants of what it keeps and sweeps those of what it
// sweeps; a content that only a 0600 file names loses its variants.
func TestGCAndVariants(t *testing.T) {
	st := openCompressing(t)
	keep := importMap(t, st, map[string]string{"keep.js": textOf("keep")})
	gone := importMap(t, st, map[string]string{"gone.js": textOf("gone")})
	e, _ := Lookup(st, gone, "gone.js")
	goneVariant, ok, _ := st.Variant(e.Ref, store.Brotli)
	if !ok {
		t.Fatal("no variant")
	}
	if err := st.DeleteSnapshot(gone, store.Removal{Why: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GC(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := variantBytes(t, st, keep, "keep.js", store.Brotli); !ok {
		t.Error("gc swept the variant of a kept file")
	}
	if _, ok, _ := st.Variant(e.Ref, store.Brotli); ok {
		t.Error("gc kept the index entry of a swept content")
	}
	if _, err := st.File(goneVariant); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("gc kept a swept content's variant: %v", err)
	}

	// The same content now only as a 0600 file: its variants go.
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"keep.js": textOf("keep")})
	os.Chmod(filepath.Join(dir, "keep.js"), 0o600)
	if _, err := ImportDir(context.Background(), st, dir, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	st.DeleteSnapshot(keep, store.Removal{Why: "test"})
	if _, err := st.GC(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.Variant(store.Sum([]byte(textOf("keep"))), store.Brotli); ok {
		t.Error("a content only a 0600 file names kept its variant, which /a/ serves to anyone")
	}
}

// variantSource is memSource with the source's variants, and an optional
// lie: a variant of another content.
type variantSource struct {
	memSource
	lie map[store.Ref]store.VariantRecord
}

func (m variantSource) FetchVariants(ctx context.Context, contents []store.Ref, fn func(store.Ref, []store.VariantRecord) error) error {
	for _, c := range contents {
		vs, err := m.st.Variants(c)
		if err != nil {
			return err
		}
		var out []store.VariantRecord
		for _, v := range vs {
			r := store.VariantRecord{Encoding: v.Encoding, None: v.None}
			if !v.None {
				if r.File, err = m.st.File(v.Ref); err != nil {
					return err
				}
			}
			if l, ok := m.lie[c]; ok && l.Encoding == v.Encoding {
				r = l
			}
			out = append(out, r)
		}
		if err := fn(c, out); err != nil {
			return err
		}
	}
	return nil
}

// A pull copies the variants, with the origin's validators, and compresses
// nothing itself; a peer that sends a variant of other bytes gets nothing
// recorded.
func TestPullCopiesVariants(t *testing.T) {
	src, dst := openCompressing(t), openCompressing(t)
	id := importMap(t, src, map[string]string{"a.js": textOf("a"), "b.css": textOf("b")})
	info, st, err := Pull(context.Background(), variantSource{memSource: memSource{st: src}}, store.Verifying(dst), id, nil)
	if err != nil || info.ID != id || st.Variants != 4 {
		t.Fatalf("pull: %+v %v", st, err)
	}
	for _, p := range []string{"a.js", "b.css"} {
		e, _ := Lookup(src, id, p)
		for _, enc := range store.Encodings {
			rs, _, _ := src.Variant(e.Ref, enc)
			rd, ok, _ := dst.Variant(e.Ref, enc)
			fs, _ := src.File(rs)
			fd, err := dst.File(rd)
			if !ok || err != nil || rs != rd || fs.MTime != fd.MTime || fs.Size != fd.Size {
				t.Errorf("%s %s: not the origin's variant and validator after the pull", p, enc)
			}
		}
	}

	// A liar: a.js's gzip variant is b.css's.
	src2, dst2 := openCompressing(t), openCompressing(t)
	id2 := importMap(t, src2, map[string]string{"a.js": textOf("a"), "b.css": textOf("b")})
	ea, _ := Lookup(src2, id2, "a.js")
	eb, _ := Lookup(src2, id2, "b.css")
	vb, _, _ := src2.Variant(eb.Ref, store.Gzip)
	rb, _ := src2.File(vb)
	liar := variantSource{memSource: memSource{st: src2}, lie: map[store.Ref]store.VariantRecord{ea.Ref: {Encoding: store.Gzip, File: rb}}}
	_, _, err = Pull(context.Background(), liar, store.Verifying(dst2), id2, nil)
	if !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a variant of other bytes: %v, want ErrInvalid", err)
	}
	if _, err := dst2.Snapshot(id2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the liar's snapshot was recorded: %v", err)
	}
	if _, ok, _ := dst2.Variant(ea.Ref, store.Gzip); ok {
		t.Error("the liar's variant was recorded")
	}
	// A variant as big as its content cannot be true: refused before its
	// chunks are fetched.
	big := *rb
	big.Size = ea.Size
	liar.lie[ea.Ref] = store.VariantRecord{Encoding: store.Gzip, File: &big}
	if _, _, err := Pull(context.Background(), liar, store.Verifying(dst2), id2, nil); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("an oversized variant: %v, want ErrCorrupt", err)
	}
	// Nor more chunks than its size needs.
	many := *rb
	for range 1000 {
		many.Chunks = append(many.Chunks, store.Sum([]byte{byte(len(many.Chunks))}))
	}
	liar.lie[ea.Ref] = store.VariantRecord{Encoding: store.Gzip, File: &many}
	if _, _, err := Pull(context.Background(), liar, store.Verifying(dst2), id2, nil); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("a variant of 1,001 chunks for %d bytes: %v, want ErrCorrupt", many.Size, err)
	}
}
