package main

import (
	"fmt"

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
			fmt.Fprintf(e.stdout, "deleted %s, %s, %s (%s kept); disk %s -> %s\n",
				count(st.Chunks, "chunk"), count(st.Files, "file"), count(st.Trees, "tree"), count(st.Snapshots, "snapshot"), size(st.BytesBefore), size(st.BytesAfter))
			return nil
		},
	}
}
