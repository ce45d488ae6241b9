package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

func diffCommand(e *env) *command {
	return &command{
		name: "snapshot diff", args: "A B|DIR", nargs: [2]int{2, 2},
		summary: "list paths added, removed or changed from snapshot A to B, or to a directory (nothing imported)",
		run:     runDiff,
	}
}

func runDiff(e *env, args []string) error {
	st, a, err := e.resolve(args[0])
	if errors.Is(err, store.ErrNotFound) && st != nil && store.CheckLabel(args[0]) == nil {
		// A ref not activated yet (current before the first deploy):
		// it serves nothing, so every path of B is added.
		if refs, rerr := st.NamedRefs(); rerr == nil && refs[args[0]].IsZero() {
			e.note("%s: no such snapshot or label, and no ref of that name serves anything yet: comparing with an empty tree", args[0])
			a, err = store.Ref{}, nil
		}
	}
	if err != nil {
		return err
	}
	var trees store.TreeReader = st
	var b store.Ref
	if fi, serr := os.Stat(args[1]); serr == nil && fi.IsDir() {
		// A dry run: the directory is hashed into a store in memory,
		// which the diff reads beside the real one; nothing is written.
		b, trees, err = hashDir(e, args[1], st)
	} else {
		_, b, err = e.resolve(args[1])
	}
	if err != nil {
		return err
	}
	changes, err := snapshot.Diff(trees, a, b)
	if err != nil {
		return err
	}
	if e.json {
		if changes == nil {
			changes = []snapshot.Change{}
		}
		return e.printJSON(changes)
	}
	sign := map[string]string{snapshot.Added: "+", snapshot.Removed: "-", snapshot.Changed: "M"}
	for _, c := range changes {
		switch c.Op {
		case snapshot.Added:
			fmt.Fprintf(e.stdout, "+ %s (%s)\n", printable(c.Path), size(c.NewSize))
		case snapshot.Removed:
			fmt.Fprintf(e.stdout, "- %s (%s)\n", printable(c.Path), size(c.OldSize))
		default:
			fmt.Fprintf(e.stdout, "%s %s (%s -> %s)\n", sign[c.Op], printable(c.Path), size(c.OldSize), size(c.NewSize))
		}
	}
	e.note("%s", map[bool]string{true: "1 path differs", false: fmt.Sprintf("%d paths differ", len(changes))}[len(changes) == 1])
	return nil
}

// hashDir imports dir into a store in memory and returns its snapshot id
// and a reader of trees from that store, then from st.
func hashDir(e *env, dir string, st store.TreeReader) (store.Ref, store.TreeReader, error) {
	mem, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		return store.Ref{}, nil, err
	}
	res, err := snapshot.ImportDir(e.ctx, mem, dir, snapshot.ImportOptions{})
	if err != nil {
		mem.Close()
		return store.Ref{}, nil, err
	}
	return res.Snapshot.ID, eitherTrees{mem, st}, nil
}

// eitherTrees reads a tree from the first reader that has it: trees are
// named by their hash, so either answer is the same tree.
type eitherTrees []store.TreeReader

func (r eitherTrees) Tree(ref store.Ref) (*store.Tree, error) {
	var err error
	for _, tr := range r {
		var t *store.Tree
		if t, err = tr.Tree(ref); err == nil {
			return t, nil
		}
	}
	return nil, err
}
