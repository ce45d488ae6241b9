package snapshot

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/vfs-project/vfs/store"
)

// node is a directory or leaf of a tree being imported.
type node struct {
	entry    store.Entry
	children map[string]*node // directories only
}

func newDir(name string, mode fs.FileMode) *node {
	return &node{entry: store.Entry{Name: name, Kind: store.KindDir, Mode: mode.Perm()}, children: map[string]*node{}}
}

// dirAt returns the directory at the slash-separated rel path below n,
// creating missing ones with mode 0755 (tar archives may omit them).
func (n *node) dirAt(rel string) (*node, error) {
	if rel == "." || rel == "" {
		return n, nil
	}
	cur := n
	for _, name := range strings.Split(rel, "/") {
		child, ok := cur.children[name]
		if !ok {
			child = newDir(name, 0o755)
			cur.children[name] = child
		}
		if child.entry.Kind != store.KindDir {
			return nil, fmt.Errorf("%s: %w: a parent is not a directory", rel, ErrUnsupported)
		}
		cur = child
	}
	return cur, nil
}

// put places a leaf or directory entry at rel, replacing an earlier one of
// the same name (a later tar member wins, as tar extraction does), but
// keeping the children of a directory that is declared twice.
func (n *node) put(rel string, e store.Entry) (*node, error) {
	parent, err := n.dirAt(path.Dir(rel))
	if err != nil {
		return nil, err
	}
	e.Name = path.Base(rel)
	if old, ok := parent.children[e.Name]; ok && old.entry.Kind == store.KindDir && e.Kind == store.KindDir {
		old.entry.Mode = e.Mode
		return old, nil
	}
	child := &node{entry: e}
	if e.Kind == store.KindDir {
		child.children = map[string]*node{}
	}
	parent.children[e.Name] = child
	return child, nil
}

// checkPath applies the store's rules for names, path length and depth
// (store.CheckName, MaxPathLen, MaxDepth) to a path below the import's
// root, so that an import refuses, or with SkipUnsupported leaves out, the
// path by name before the commit's own check of the whole tree.
func checkPath(rel string) error {
	if len(rel) > store.MaxPathLen || strings.Count(rel, "/") >= store.MaxDepth {
		return fmt.Errorf("path of %d bytes and %d levels; at most %d and %d", len(rel), strings.Count(rel, "/")+1, store.MaxPathLen, store.MaxDepth)
	}
	for _, name := range strings.Split(rel, "/") {
		if err := store.CheckName(name); err != nil {
			return err
		}
	}
	return nil
}

// symlinkInside reports whether a symlink at rel with this target resolves,
// lexically, to a path inside the tree. Absolute targets never do: the
// mount would resolve them on the web server's file system.
func symlinkInside(rel, target string) bool {
	if target == "" || path.IsAbs(target) {
		return false
	}
	p := path.Clean(path.Join(path.Dir(rel), target))
	return p != ".." && !strings.HasPrefix(p, "../")
}

// store writes every directory below and including n, deepest first, and
// returns n's tree ref.
func (n *node) store(w store.Batch, st *Stats) (store.Ref, error) {
	t := &store.Tree{Entries: make([]store.Entry, 0, len(n.children))}
	for _, c := range n.children {
		if c.entry.Kind == store.KindDir {
			ref, err := c.store(w, st)
			if err != nil {
				return ref, err
			}
			c.entry.Ref = ref
		}
		t.Entries = append(t.Entries, c.entry)
	}
	st.Dirs++
	return w.PutTree(t)
}
