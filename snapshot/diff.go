package snapshot

import (
	"fmt"

	"github.com/vfs-project/vfs/store"
)

// Change operations reported by Diff.
const (
	Added   = "added"
	Removed = "removed"
	Changed = "changed"
)

// A Change is one path that differs between two snapshots. Directories are
// expanded: an added directory reports each path below it.
type Change struct {
	Op      string     `json:"op"`
	Path    string     `json:"path"`
	Kind    store.Kind `json:"kind"`
	OldSize uint64     `json:"old_size"`
	NewSize uint64     `json:"new_size"`
}

// Diff lists the paths that differ from snapshot a to snapshot b, in path
// order. Subtrees with the same ref are skipped without being read.
// A zero ref is the empty tree: a ref's first activation adds every path.
func Diff(st store.TreeReader, a, b store.Ref) ([]Change, error) {
	var out []Change
	if err := diffTrees(st, "", a, b, &out); err != nil {
		return nil, fmt.Errorf("diff %s %s: %w", a.Short(), b.Short(), err)
	}
	return out, nil
}

func diffTrees(st store.TreeReader, dir string, a, b store.Ref, out *[]Change) error {
	if a == b {
		return nil
	}
	ta, err := treeOrEmpty(st, a)
	if err != nil {
		return err
	}
	tb, err := treeOrEmpty(st, b)
	if err != nil {
		return err
	}
	i, j := 0, 0
	for i < len(ta.Entries) || j < len(tb.Entries) {
		switch {
		case j == len(tb.Entries) || (i < len(ta.Entries) && ta.Entries[i].Name < tb.Entries[j].Name):
			err = expand(st, dir, ta.Entries[i], Removed, out)
			i++
		case i == len(ta.Entries) || tb.Entries[j].Name < ta.Entries[i].Name:
			err = expand(st, dir, tb.Entries[j], Added, out)
			j++
		default:
			err = diffEntry(st, dir, ta.Entries[i], tb.Entries[j], out)
			i, j = i+1, j+1
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func diffEntry(st store.TreeReader, dir string, ea, eb store.Entry, out *[]Change) error {
	p := dir + "/" + ea.Name
	switch {
	case ea.Kind == store.KindDir && eb.Kind == store.KindDir:
		return diffTrees(st, p, ea.Ref, eb.Ref, out)
	case ea.Kind != eb.Kind:
		if err := expand(st, dir, ea, Removed, out); err != nil {
			return err
		}
		return expand(st, dir, eb, Added, out)
	case ea.Ref != eb.Ref || ea.Target != eb.Target || ea.Mode != eb.Mode:
		*out = append(*out, Change{Op: Changed, Path: p, Kind: ea.Kind, OldSize: ea.Size, NewSize: eb.Size})
	}
	return nil
}

// expand reports e, and everything below it if it is a directory.
func expand(st store.TreeReader, dir string, e store.Entry, op string, out *[]Change) error {
	add := func(p string, e store.Entry) {
		c := Change{Op: op, Path: p, Kind: e.Kind}
		if op == Added {
			c.NewSize = e.Size
		} else {
			c.OldSize = e.Size
		}
		*out = append(*out, c)
	}
	p := dir + "/" + e.Name
	if e.Kind != store.KindDir {
		add(p, e)
		return nil
	}
	return store.Walk(st, e.Ref, func(sub string, e store.Entry) error {
		if e.Kind != store.KindDir {
			add(p+sub, e)
		}
		return nil
	}, nil)
}

// treeOrEmpty reads tree ref; the zero ref is the empty tree.
func treeOrEmpty(st store.TreeReader, ref store.Ref) (*store.Tree, error) {
	if ref.IsZero() {
		return &store.Tree{}, nil
	}
	return st.Tree(ref)
}
