package main

import (
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	"github.com/vfs-project/vfs/store"
)

// refInfo is one line of ref list.
type refInfo struct {
	Ref      string    `json:"ref"`
	Snapshot store.Ref `json:"snapshot"`
	Since    time.Time `json:"since"` // when it was moved there (zero: before the log)
	UID      int       `json:"uid"`
	User     string    `json:"user"`
	Reason   string    `json:"reason"`
}

func refListCommand(e *env) *command {
	return &command{
		name: "ref list", nargs: [2]int{0, 0},
		summary: "list the refs: the snapshot each serves, since when, moved by whom and why",
		run: func(e *env, _ []string) error {
			st, err := e.store()
			if err != nil {
				return err
			}
			refs, err := st.NamedRefs()
			if err != nil {
				return err
			}
			log, err := st.Log()
			if err != nil {
				return err
			}
			out := []refInfo{}
			for name, id := range refs {
				r := refInfo{Ref: name, Snapshot: id}
				for i := len(log) - 1; i >= 0; i-- {
					if le := log[i]; le.Ref == name && le.To == id {
						r.Since, r.UID, r.User, r.Reason = le.Time, le.UID, le.User, le.Reason
						break
					}
				}
				out = append(out, r)
			}
			sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
			if e.json {
				return e.printJSON(out)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REF\tSNAPSHOT\tSINCE\tUSER\tREASON")
			for _, r := range out {
				user := r.User
				if user == "" {
					user = fmt.Sprint(r.UID)
				}
				since := "-"
				if !r.Since.IsZero() {
					since = r.Since.Local().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Ref, r.Snapshot.Short(), since, printable(user), printable(r.Reason))
			}
			return tw.Flush()
		},
	}
}

func refRmCommand(e *env) *command {
	var reason string
	var local bool
	return &command{
		name: "ref rm", args: "NAME", nargs: [2]int{1, 1},
		summary: "remove a ref (not current); the log records it",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&reason, "reason", "", "why, recorded in the activation log")
			fs.BoolVar(&local, "local", false, "remove a ref the cluster manages on this node alone")
		},
		run: func(e *env, args []string) error {
			st, err := e.store()
			if err != nil {
				return err
			}
			setLocal(st, local)
			le, err := st.RemoveRef(e.ctx, args[0], reason)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(le)
			}
			e.note("%s removed (it served %s; the snapshot stays until retention lets it go)", args[0], shortOrNone(le.From))
			return nil
		},
	}
}
