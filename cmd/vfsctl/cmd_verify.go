package main

import (
	"errors"
	"fmt"

	"github.com/dustin/go-humanize"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// errDamaged: verify found damage (exit 5).
var errDamaged = errors.New("damage found")

func verifyCommand(e *env) *command {
	return &command{
		name: "verify", args: "[ID|LABEL]", nargs: [2]int{0, 1},
		summary: "re-hash every object (or one snapshot's) and report damage",
		run:     runVerify,
	}
}

func runVerify(e *env, args []string) error {
	st, err := e.store()
	if err != nil {
		return err
	}
	var ids []store.Ref
	if len(args) == 1 {
		_, id, err := e.resolve(args[0])
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	var show func(snapshot.VerifyProgress)
	if !e.quiet {
		p := newProgress(e.stderr)
		defer p.done()
		show = func(v snapshot.VerifyProgress) {
			p.line(fmt.Sprintf("verify: %d/%d snapshots, %d files, %s", v.Snapshots, v.SnapshotsTotal, v.Files, humanize.IBytes(uint64(v.Bytes))))
		}
	}
	rep, err := st.VerifySnapshots(e.ctx, ids, show)
	if err != nil {
		return err
	}
	if e.json {
		if err := e.printJSON(rep); err != nil {
			return err
		}
	} else {
		for _, p := range rep.Problems {
			fmt.Fprintf(e.stdout, "DAMAGED snapshot %s %s (object %s): %s\n", p.Snapshot.Short(), p.Path, p.Object.Short(), p.Error)
		}
		for _, b := range rep.LogBreaks {
			fmt.Fprintf(e.stdout, "LOG %s\n", b)
		}
	}
	e.note("verified %s, %s: %s, %s", count(rep.Snapshots, "snapshot"), count(rep.Files, "distinct file"), count(len(rep.Problems), "problem"), count(len(rep.LogBreaks), "log break"))
	if !rep.OK() {
		return errDamaged
	}
	return nil
}
