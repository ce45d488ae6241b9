package main

import (
	"fmt"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/pflag"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

type logOptions struct {
	ref     string
	since   string
	last    int
	reverse bool
}

func (o *logOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ref, "ref", "", "only this ref's activations")
	fs.StringVar(&o.since, "since", "", "only activations at or after this time (RFC 3339, a date, or '2h ago')")
	fs.IntVarP(&o.last, "number", "n", 0, "only the last N activations (after --ref and --since)")
	fs.BoolVar(&o.reverse, "reverse", false, "newest first")
}

func logCommand(e *env) *command {
	o := &logOptions{}
	return &command{
		name: "log", nargs: [2]int{0, 0},
		summary: "show the activation log, oldest first (--reverse: newest first)",
		flags:   o.AddFlags,
		run:     func(e *env, _ []string) error { return runLog(e, o) },
	}
}

func runLog(e *env, o *logOptions) error {
	var since time.Time
	if o.since != "" {
		t, err := snapshot.ParseTime(o.since, time.Now())
		if err != nil {
			return usageError{fmt.Sprintf("--since: %v", err)}
		}
		since = t
	}
	st, err := e.store()
	if err != nil {
		return err
	}
	all, err := st.Log()
	if err != nil {
		return err
	}
	if o.last < 0 {
		return usageError{"-n: a number of entries, 1 or more"}
	}
	out := []store.LogEntry{}
	for _, le := range all {
		if (o.ref == "" || le.Ref == o.ref) && !le.Time.Before(since) {
			out = append(out, le)
		}
	}
	if o.last > 0 && len(out) > o.last {
		out = out[len(out)-o.last:]
	}
	if o.reverse {
		slices.Reverse(out)
	}
	if e.json {
		return e.printJSON(out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tREF\tFROM\tTO\tUSER\tPID\tREASON")
	for _, le := range out {
		user := le.User
		if user == "" {
			user = fmt.Sprint(le.UID)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", le.Seq, le.Time.Local().Format(time.RFC3339), le.Ref,
			shortOrNone(le.From), shortOrNone(le.To), user, le.PID, printable(le.Reason))
	}
	return tw.Flush()
}

// printable quotes text that holds control characters (a newline in a
// reason would otherwise forge a line of the log's output); plain text
// prints as it is.
func printable(s string) string {
	for _, r := range s {
		if unicode.IsControl(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
