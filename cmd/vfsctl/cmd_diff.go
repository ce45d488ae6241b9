package main

import (
	"fmt"

	"github.com/vfs-project/vfs/snapshot"
)

func diffCommand(e *env) *command {
	return &command{
		name: "snapshot diff", args: "A B", nargs: [2]int{2, 2},
		summary: "list paths added, removed or changed from snapshot A to B",
		run:     runDiff,
	}
}

func runDiff(e *env, args []string) error {
	st, a, err := e.resolve(args[0])
	if err != nil {
		return err
	}
	_, b, err := e.resolve(args[1])
	if err != nil {
		return err
	}
	changes, err := snapshot.Diff(st, a, b)
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
			fmt.Fprintf(e.stdout, "+ %s (%s)\n", c.Path, size(c.NewSize))
		case snapshot.Removed:
			fmt.Fprintf(e.stdout, "- %s (%s)\n", c.Path, size(c.OldSize))
		default:
			fmt.Fprintf(e.stdout, "%s %s (%s -> %s)\n", sign[c.Op], c.Path, size(c.OldSize), size(c.NewSize))
		}
	}
	e.note("%s", map[bool]string{true: "1 path differs", false: fmt.Sprintf("%d paths differ", len(changes))}[len(changes) == 1])
	return nil
}
