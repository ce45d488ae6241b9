package main

import (
	"fmt"
	"strings"

	"time"

	"github.com/spf13/pflag"
	"github.com/vfs-project/vfs/cmd/internal/flagval"
	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

type activateOptions struct {
	ref     string
	reason  string
	verify  bool
	dryRun  bool
	cluster bool
	wait    time.Duration
	abort   bool
	local   bool
	to      string // rollback --to
	steps   int    // rollback --steps
}

func (o *activateOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ref, "ref", snapshot.DefaultRef, "ref to move; the mount serves 'current' at /current")
	fs.StringVar(&o.reason, "reason", "", "why, recorded in the activation log")
}

func (o *activateOptions) addVerify(fs *pflag.FlagSet) {
	o.AddFlags(fs)
	fs.BoolVar(&o.verify, "verify", false, "re-hash every chunk of the snapshot first (default: check that every object is present)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "only say what would change: the ref's move and the paths that differ")
	o.addCluster(fs, "switch")
}

// addCluster adds the flags of a move in a cluster: --cluster and its
// --wait and --abort, and --local.
func (o *activateOptions) addCluster(fs *pflag.FlagSet, verb string) {
	fs.BoolVar(&o.cluster, "cluster", false, verb+" the ref on every member of vfsd's cluster together (docs/cluster.md)")
	flagval.DurationVar(fs, &o.wait, "wait", time.Minute, "with --cluster, how long to wait for every member: the answer comes within it and 10 s")
	fs.BoolVar(&o.abort, "abort", false, "with --cluster, withdraw the release if not every member staged it within --wait (default: it stays desired)")
	fs.BoolVar(&o.local, "local", false, "move a ref the cluster manages on this node alone: a logged exception, after which the node answers 503 on /v1/ready until the cluster's next release")
}

// setLocal makes a daemon client's activations and rollbacks move a ref
// the cluster manages on this node alone (--local).
func setLocal(api ctl.API, local bool) {
	if c, ok := api.(*ctl.Client); ok {
		c.Local = local
	}
}

func activateCommand(e *env) *command {
	o := &activateOptions{}
	return &command{
		name: "activate", args: "ID|LABEL", nargs: [2]int{1, 1},
		summary: "point a ref (default current) at a snapshot",
		flags:   o.addVerify,
		run: func(e *env, args []string) error {
			st, id, err := e.resolve(args[0])
			if err != nil {
				return err
			}
			if o.dryRun {
				return dryRunActivate(e, st, o.ref, id)
			}
			if o.cluster {
				return clusterActivate(e, st, o, id)
			}
			setLocal(st, o.local)
			le, err := st.Activate(e.ctx, o.ref, id, o.reason, o.verify)
			return reportActivation(e, le, err)
		},
	}
}

func rollbackCommand(e *env) *command {
	o := &activateOptions{}
	return &command{
		name: "rollback", nargs: [2]int{0, 0},
		summary: "point a ref back at the last different snapshot it served (or --to one, or --steps back)",
		flags: func(fs *pflag.FlagSet) {
			o.AddFlags(fs)
			fs.StringVar(&o.to, "to", "", "go back to this snapshot: an id, a label, or @TIME (what the ref served then: @2026-11-20T10:00:00Z, @yesterday, '@2h ago')")
			fs.IntVar(&o.steps, "steps", 1, "go back this many different targets (1: the last one; a second plain rollback goes forward again)")
			fs.BoolVar(&o.cluster, "cluster", false, "roll back on every member of vfsd's cluster together (the snapshot is on all of them: nothing is copied)")
			flagval.DurationVar(fs, &o.wait, "wait", time.Minute, "with --cluster, how long to wait for every member: the answer comes within it and 10 s")
			fs.BoolVar(&o.local, "local", false, "roll back a ref the cluster manages on this node alone: a logged exception, after which the node answers 503 on /v1/ready until the cluster's next release")
		},
		run: func(e *env, _ []string) error {
			if o.to != "" && o.steps != 1 {
				return usageError{"rollback: give --to or --steps, not both"}
			}
			st, err := e.store()
			if err != nil {
				return err
			}
			var id store.Ref
			switch {
			case o.to != "":
				id, err = rollbackTo(e, st, o.ref, o.to)
			case o.steps != 1 || o.cluster:
				id, err = previousTarget(st, o.ref, o.steps)
			}
			if err != nil {
				return err
			}
			if o.cluster {
				return clusterActivate(e, st, o, id)
			}
			setLocal(st, o.local)
			if !id.IsZero() {
				reason := o.reason
				if reason == "" {
					reason = "rollback to " + id.Short()
				}
				le, err := st.Activate(e.ctx, o.ref, id, reason, false)
				return reportActivation(e, le, err)
			}
			le, err := st.Rollback(e.ctx, o.ref, o.reason)
			return reportActivation(e, le, err)
		},
	}
}

// rollbackTo resolves --to: a snapshot id or label, or @TIME, what ref
// served at that instant (from the log).
func rollbackTo(e *env, api ctl.API, ref, to string) (store.Ref, error) {
	when, ok := strings.CutPrefix(to, "@")
	if !ok {
		return snapshot.Resolve(api, to)
	}
	t, err := snapshot.ParseTime(when, time.Now())
	if err != nil {
		return store.Ref{}, usageError{fmt.Sprintf("--to %s: %v", to, err)}
	}
	log, err := api.Log()
	if err != nil {
		return store.Ref{}, err
	}
	id, err := snapshot.At(snapshot.LogHistory(log), ref, t, time.Now())
	if err != nil {
		return store.Ref{}, fmt.Errorf("--to %s: %s served nothing then: %w", to, ref, err)
	}
	return id, nil
}

// reportActivation prints the move; failed hooks are reported and make
// the exit code 1, though the activation stands.
func reportActivation(e *env, a ctl.Activation, err error) error {
	if err != nil {
		return err
	}
	if e.json {
		if err := e.printJSON(a); err != nil {
			return err
		}
	} else if a.Unchanged {
		e.note("%s: already at %s, nothing done", a.Ref, a.To.Short())
	} else {
		e.note("%s: %s -> %s", a.Ref, shortOrNone(a.From), a.To.Short())
	}
	return hookFailures(a)
}

// hookFailures makes failed hooks an error (exit 1); the activation stands.
func hookFailures(a ctl.Activation) error {
	if len(a.HookFailures) > 0 {
		return fmt.Errorf("activated, but %s failed: %s", count(len(a.HookFailures), "hook"), strings.Join(a.HookFailures, "; "))
	}
	return nil
}

// dryRunActivate says what activating id on ref would change, and changes
// nothing.
func dryRunActivate(e *env, st ctl.API, ref string, id store.Ref) error {
	refs, err := st.NamedRefs()
	if err != nil {
		return err
	}
	from := refs[ref]
	changes := []snapshot.Change{}
	if !from.IsZero() && from != id {
		if changes, err = snapshot.Diff(st, from, id); err != nil {
			return err
		}
	}
	if e.json {
		return e.printJSON(map[string]any{"ref": ref, "from": from, "to": id, "unchanged": from == id, "changes": changes})
	}
	if from == id {
		e.note("%s: already at %s, nothing would change", ref, id.Short())
		return nil
	}
	fmt.Fprintf(e.stdout, "would move %s: %s -> %s (%s; snapshot diff lists them)\n",
		ref, shortOrNone(from), id.Short(), summarize(changes, false))
	return nil
}

// clusterActivate switches the ref on every member and reports those
// that did not follow within --wait (exit 1).
func clusterActivate(e *env, api ctl.API, o *activateOptions, id store.Ref) error {
	c, ok := api.(*ctl.Client)
	if !ok {
		return usageError{"--cluster: talk to vfsd (--socket); a store opened directly is in no cluster"}
	}
	res, err := c.ClusterActivate(e.ctx, o.ref, id, o.reason, o.wait, o.abort)
	if err != nil {
		return err
	}
	if e.json {
		if err := e.printJSON(res); err != nil {
			return err
		}
	}
	switch {
	case len(res.Missing) == 0 && len(res.Left) > 0:
		return fmt.Errorf("%s generation %d, %s on all %s, but %s served the release before and left the cluster since: it may still serve the old one",
			res.Ref, res.Gen, id.Short(), count(len(res.Members), "member"), strings.Join(res.Left, ", "))
	case len(res.Missing) == 0 && len(res.HookFailures) > 0:
		return fmt.Errorf("%s generation %d on all %s, but %s failed: %s", res.Ref, res.Gen, count(len(res.Members), "member"),
			count(len(res.HookFailures), "cluster hook"), strings.Join(res.HookFailures, "; "))
	case len(res.Missing) == 0:
		e.note("%s: generation %d, %s on all %s", res.Ref, res.Gen, id.Short(), count(len(res.Members), "member"))
		return nil
	case !res.Committed && o.abort:
		return fmt.Errorf("%s generation %d aborted: %s did not stage %s within %s", res.Ref, res.Gen, strings.Join(res.Missing, ", "), id.Short(), o.wait)
	case !res.Committed:
		return fmt.Errorf("%s generation %d not committed: %s did not stage %s within %s (the release stays desired; --abort withdraws it)", res.Ref, res.Gen, strings.Join(res.Missing, ", "), id.Short(), o.wait)
	}
	left := ""
	if len(res.Left) > 0 {
		left = fmt.Sprintf("; %s served the release before and left the cluster since", strings.Join(res.Left, ", "))
	}
	return fmt.Errorf("%s generation %d committed, but %s did not apply it within %s%s", res.Ref, res.Gen, strings.Join(res.Missing, ", "), o.wait, left)
}

// previousTarget is what rollback goes back to, steps different targets
// back, from the log read through vfsd (snapshot.StepsBack's rule; 1 is
// RollbackTarget's).
func previousTarget(api ctl.API, ref string, steps int) (store.Ref, error) {
	refs, err := api.NamedRefs()
	if err != nil {
		return store.Ref{}, err
	}
	log, err := api.Log()
	if err != nil {
		return store.Ref{}, err
	}
	return snapshot.StepsBack(snapshot.LogHistory(log), ref, refs[ref], steps)
}
