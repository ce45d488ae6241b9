package main

import (
	"fmt"

	"github.com/dustin/go-humanize"
	"github.com/vfs-project/vfs/ctl"
)

func gcCommand(e *env) *command {
	return &command{
		name: "gc", nargs: [2]int{0, 0},
		summary: "delete objects no snapshot references and give disk space back",
		run: func(e *env, _ []string) error {
			api, err := e.store()
			if err != nil {
				return err
			}
			var show func(ctl.GCProgress)
			if !e.quiet {
				p := newProgress(e.stderr)
				defer p.done()
				show = func(g ctl.GCProgress) { p.line("gc: " + g.Step) }
			}
			st, err := api.CollectGarbage(e.ctx, show)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(st)
			}
			fmt.Fprintf(e.stdout, "deleted %d chunks, %d files, %d trees (%d snapshots kept); disk %s -> %s\n",
				st.Chunks, st.Files, st.Trees, st.Snapshots, humanize.IBytes(uint64(st.BytesBefore)), humanize.IBytes(uint64(st.BytesAfter)))
			return nil
		},
	}
}
