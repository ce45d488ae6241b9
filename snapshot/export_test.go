package snapshot

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vfs-project/vfs/store"
)

// oldStore serves trees that no store accepts any more, as a store written
// before validation existed might hold: export must still write nothing
// outside its target.
type oldStore struct {
	trees map[store.Ref]*store.Tree
	rec   *store.FileRecord
	data  []byte
}

func (o *oldStore) Tree(r store.Ref) (*store.Tree, error) {
	if t, ok := o.trees[r]; ok {
		return t, nil
	}
	return nil, store.ErrNotFound
}
func (o *oldStore) File(store.Ref) (*store.FileRecord, error) { return o.rec, nil }
func (o *oldStore) ReadAt(_ *store.FileRecord, p []byte, off int64) (int, error) {
	return copy(p, o.data[off:]), nil
}

func TestExportStaysBeneathItsTarget(t *testing.T) {
	data := []byte("written through\n")
	ref := store.Sum(data)
	o := &oldStore{trees: map[store.Ref]*store.Tree{}, data: data,
		rec: &store.FileRecord{Ref: ref, Size: uint64(len(data)), MTime: 1, ChunkSize: store.ChunkSize, Chunks: []store.Ref{ref}}}
	file := func(name string) store.Entry {
		return store.Entry{Name: name, Kind: store.KindFile, Mode: 0o644, Ref: ref, Size: uint64(len(data))}
	}
	outside := t.TempDir()
	cases := map[string][]store.Entry{
		"dot-dot name":            {file("../escape")},
		"write through a symlink": {{Name: "a", Kind: store.KindSymlink, Target: outside}, file("a/escape")},
		"relative symlink":        {{Name: "a", Kind: store.KindSymlink, Target: "../" + filepath.Base(outside)}, file("a/escape")},
	}
	for name, entries := range cases {
		root := store.Ref{byte(len(o.trees) + 1)}
		o.trees[root] = &store.Tree{Entries: entries}
		target := filepath.Join(t.TempDir(), "export")
		err := ExportDir(o, root, target)
		if err == nil {
			t.Errorf("%s: export succeeded", name)
		}
		for _, p := range []string{filepath.Join(outside, "escape"), filepath.Join(filepath.Dir(target), "escape")} {
			if _, err := os.Lstat(p); err == nil {
				t.Errorf("%s: export wrote %s, outside its target", name, p)
				os.Remove(p)
			}
		}
	}
}
