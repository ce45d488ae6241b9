package main

import (
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/dustin/go-humanize"
)

func statusCommand(e *env) *command {
	return &command{
		name: "status", nargs: [2]int{0, 0},
		summary: "show each ref's snapshot and what the store holds",
		run:     runStatus,
	}
}

func runStatus(e *env, _ []string) error {
	st, err := e.store()
	if err != nil {
		return err
	}
	refs, err := st.NamedRefs()
	if err != nil {
		return err
	}
	all, err := st.Snapshots()
	if err != nil {
		return err
	}
	if e.json {
		return e.printJSON(map[string]any{"store": st.Dir(), "refs": refs, "snapshots": len(all)})
	}
	fmt.Fprintf(e.stdout, "store      %s\nsnapshots  %d\n", st.Dir(), len(all))
	names := make([]string, 0, len(refs))
	for n := range refs {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, n := range names {
		info, err := st.Snapshot(refs[n])
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "ref %s\t%s\t%d files\t%s\n", n, refs[n].Short(), info.Files, humanize.IBytes(info.Bytes))
	}
	if len(names) == 0 {
		fmt.Fprintln(tw, "no refs yet: 'vfsctl activate ID' points current at a snapshot")
	}
	return tw.Flush()
}
