package main

import (
	"fmt"

	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/store"
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
			fmt.Fprintf(e.stdout, "deleted %s (%s of content), %s, %s; %s kept\n",
				count(st.Chunks, "chunk"), size(st.ChunkBytes), count(st.Files, "file"), count(st.Trees, "tree"), count(st.Snapshots, "snapshot"))
			fmt.Fprintf(e.stdout, "disk %s -> %s: %s\n", size(st.BytesBefore), size(st.BytesAfter), diskWhy(st))
			return nil
		},
	}
}

// diskWhy says why the store's disk figure moved as it did: Badger keeps
// content in value-log files and gives a file's space back only when
// value-log GC rewrites it, which it does once most of the file is dead.
func diskWhy(st store.GCStats) string {
	switch {
	case st.VlogRewritten > 0:
		return fmt.Sprintf("%s rewritten without the deleted content", count(st.VlogRewritten, "value-log file"))
	case st.ChunkBytes == 0:
		return "nothing was deleted; the figure moves with Badger's own tables and logs"
	default:
		return "the deleted content stays on disk until the value-log file holding it is mostly dead (files are 64 MiB) and a later gc rewrites it; a sweep also writes (deletion markers), so the figure can grow"
	}
}
