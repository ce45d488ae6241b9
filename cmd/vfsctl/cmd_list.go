package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/dustin/go-humanize"
	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/store"
)

func listCommand(e *env) *command {
	return &command{
		name: "snapshot list", nargs: [2]int{0, 0},
		summary: "list snapshots, oldest first, with the refs that point at them",
		run:     runList,
	}
}

func runList(e *env, _ []string) error {
	st, err := e.store()
	if err != nil {
		return err
	}
	all, err := st.Snapshots()
	if err != nil {
		return err
	}
	refs, err := st.NamedRefs()
	if err != nil {
		return err
	}
	signed := map[store.Ref]string{}
	for _, s := range all {
		sigs, err := st.Signatures(e.ctx, s.ID)
		if errors.Is(err, store.ErrNotFound) {
			// Removed meanwhile, or a vfsd from before signatures.
			signed[s.ID] = "?"
			continue
		}
		if err != nil {
			return err
		}
		signed[s.ID] = signedMark(sigs)
	}
	if e.json {
		return e.printJSON(map[string]any{"snapshots": nonNil(all), "refs": refs, "signed": signed})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tFILES\tSIZE\tREFS\tLABELS\tSIGNED\tMESSAGE")
	for _, s := range all {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", s.ID.Short(), s.Created.Local().Format("2006-01-02 15:04:05"),
			s.Files, humanize.IBytes(s.Bytes), refsTo(refs, s.ID), strings.Join(s.Labels, ","), signed[s.ID], printable(s.Message))
	}
	return tw.Flush()
}

// signedMark sums up a snapshot's signatures for the list: the principal
// of a valid one; "no-valid" when it has some and none is valid under
// vfsd's allowed signers now (a key removed or expired); "unchecked" when
// vfsd has no allowed signers; "-" for none.
func signedMark(sigs []ctl.SignatureInfo) string {
	if len(sigs) == 0 {
		return "-"
	}
	mark := "unchecked"
	for _, s := range sigs {
		if s.Principal != "" {
			return printable(s.Principal)
		}
		if s.Problem != "" {
			mark = "no-valid"
		}
	}
	return mark
}

// refsTo names the refs that point at id, comma-separated.
func refsTo(refs map[string]store.Ref, id store.Ref) string {
	var names []string
	for name, to := range refs {
		if to == id {
			names = append(names, name)
		}
	}
	sortStrings(names)
	return strings.Join(names, ",")
}

func nonNil(list []store.SnapshotInfo) []store.SnapshotInfo {
	if list == nil {
		return []store.SnapshotInfo{}
	}
	return list
}

func shortOrNone(r store.Ref) string {
	if r.IsZero() {
		return "none"
	}
	return r.Short()
}
