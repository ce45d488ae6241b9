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
		summary: "show the store, the daemon serving it, and each ref's snapshot",
		run:     runStatus,
	}
}

func runStatus(e *env, _ []string) error {
	st, err := e.store()
	if err != nil {
		return err
	}
	s, err := st.Status(e.ctx)
	if err != nil {
		return err
	}
	if e.json {
		return e.printJSON(s)
	}
	fmt.Fprintf(e.stdout, "store      %s\n", s.Store)
	if s.Mount != "" {
		fmt.Fprintf(e.stdout, "daemon     pid %d, serving %s\n", s.PID, s.Mount)
	}
	fmt.Fprintf(e.stdout, "snapshots  %d, %s on disk\n", s.Snapshots, humanize.IBytes(uint64(s.Bytes)))
	names := make([]string, 0, len(s.Refs))
	for n := range s.Refs {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, n := range names {
		info, err := st.Snapshot(s.Refs[n])
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "ref %s\t%s\t%s\t%s\n", n, s.Refs[n].Short(), count(info.Files, "file"), size(info.Bytes))
	}
	if len(names) == 0 {
		fmt.Fprintln(tw, "no refs yet: 'vfsctl activate ID' points current at a snapshot")
	}
	return tw.Flush()
}
