package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/vfs-project/vfs/cmd/internal/flagval"
	"github.com/vfs-project/vfs/snapshot"
)

type pruneOptions struct {
	flags      *pflag.FlagSet // to tell a flag given from its default
	keepLast   int
	keepWithin time.Duration
	dryRun     bool
	force      bool
	save       bool
}

func (o *pruneOptions) AddFlags(fs *pflag.FlagSet) {
	o.flags = fs
	fs.IntVar(&o.keepLast, "keep-last", 0, "keep the last N snapshots each ref pointed at (when not given: the store's policy, 10 if unset)")
	fs.Var(flagval.Duration{D: &o.keepWithin}, "keep-within", "keep what was a ref's target, or was created, within this long, e.g. 36h, 7d, 2w (when not given: the store's policy, 7d if unset)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "only print what would be kept and dropped, and why")
	fs.BoolVar(&o.force, "force", false, "prune even when --keep-within is shorter than vfsd's --grace (pages loaded within the grace may then miss assets)")
	fs.BoolVar(&o.save, "save", false, "store --keep-last and --keep-within as this store's policy")
}

func pruneCommand(e *env) *command {
	o := &pruneOptions{}
	return &command{
		name: "snapshot prune", nargs: [2]int{0, 0},
		summary: "remove snapshots the retention policy does not keep",
		flags:   o.AddFlags,
		run:     func(e *env, _ []string) error { return runPrune(e, o) },
	}
}

func runPrune(e *env, o *pruneOptions) error {
	api, err := e.store()
	if err != nil {
		return err
	}
	p, err := api.Policy(e.ctx)
	if err != nil {
		return err
	}
	if o.flags.Changed("keep-last") {
		if o.keepLast < 0 {
			return usageError{"--keep-last: a number of snapshots, 0 or more"}
		}
		p.KeepLast = o.keepLast
	}
	if o.flags.Changed("keep-within") {
		p.KeepWithin = o.keepWithin
	}
	if o.save {
		if err := api.SetPolicy(e.ctx, p); err != nil {
			return err
		}
	}
	decisions, err := api.Prune(e.ctx, p, o.dryRun, o.force)
	if err != nil {
		return err
	}
	if e.json {
		return e.printJSON(map[string]any{"policy": p, "decisions": decisions})
	}
	verb, dropped := "drop", 0
	if !o.dryRun {
		verb = "dropped"
	}
	for _, d := range decisions {
		if d.Keep {
			fmt.Fprintf(e.stdout, "keep    %s  %s\n", d.Snapshot.ID.Short(), strings.Join(d.Reasons, "; "))
		} else {
			dropped++
			fmt.Fprintf(e.stdout, "%-7s %s  created %s\n", verb, d.Snapshot.ID.Short(), d.Snapshot.Created.Local().Format(time.RFC3339))
		}
	}
	e.note("policy: keep last %d per ref, keep within %s; %d of %s %s", p.KeepLast, snapshot.FormatDuration(p.KeepWithin), dropped, count(len(decisions), "snapshot"), map[bool]string{true: "would be dropped", false: "dropped"}[o.dryRun])
	return nil
}
