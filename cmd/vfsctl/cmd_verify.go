package main

import (
	"errors"
	"fmt"

	"github.com/dustin/go-humanize"
	"github.com/vfs-project/vfs/sign"
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
		for _, u := range rep.Unsigned {
			fmt.Fprintf(e.stdout, "UNSIGNED %s serves %s: %s\n", u.Ref, u.Snapshot.Short(), u.Error)
		}
	}
	e.note("verified %s, %s: %s, %s, %s", count(rep.Snapshots, "snapshot"), count(rep.Files, "distinct file"), count(len(rep.Problems), "problem"),
		count(len(rep.LogBreaks), "log break"), count(len(rep.Unsigned), "ref serving an unsigned snapshot", "refs serving an unsigned snapshot"))
	if len(rep.Problems) == 0 && len(rep.LogBreaks) == 0 && len(rep.Unsigned) > 0 {
		return fmt.Errorf("%s without a valid signature: %w", count(len(rep.Unsigned), "ref serves a snapshot", "refs serve snapshots"), sign.ErrUnsigned)
	}
	if !rep.OK() {
		return errDamaged
	}
	return nil
}
