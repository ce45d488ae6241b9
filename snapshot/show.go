package snapshot

import (
	"fmt"
	"strings"

	"github.com/vfs-project/vfs/store"
)

// Lookup returns the entry at a slash-separated path in snapshot id ("" or
// "/" is the root directory, returned with the snapshot id as its ref).
func Lookup(st store.TreeReader, id store.Ref, p string) (store.Entry, error) {
	e := store.Entry{Name: "/", Kind: store.KindDir, Mode: 0o755, Ref: id}
	for _, name := range strings.Split(strings.Trim(p, "/"), "/") {
		if name == "" || name == "." {
			continue
		}
		if e.Kind != store.KindDir {
			return e, fmt.Errorf("%s: %w", p, store.ErrNotFound)
		}
		t, err := st.Tree(e.Ref)
		if err != nil {
			return e, fmt.Errorf("%s: %w", p, err)
		}
		next, ok := t.Lookup(name)
		if !ok {
			return e, fmt.Errorf("%s: %w", p, store.ErrNotFound)
		}
		e = next
	}
	return e, nil
}
