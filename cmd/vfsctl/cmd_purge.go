package main

import (
	"fmt"

	"github.com/spf13/pflag"
)

type purgeOptions struct{ reason string }

func (o *purgeOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.reason, "reason", "", "why, recorded with the purge and logged by vfsd")
}

func purgeCommand(e *env) *command {
	o := &purgeOptions{}
	return &command{
		name: "purge", args: "PATH|HASH", nargs: [2]int{1, 1},
		summary: "withdraw a file from /a/ and from asset carry-over at once",
		flags:   o.AddFlags,
		run: func(e *env, args []string) error {
			api, err := e.store()
			if err != nil {
				return err
			}
			recs, err := api.PurgeContent(e.ctx, args[0], o.reason)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(recs)
			}
			for _, r := range recs {
				fmt.Fprintf(e.stdout, "purged %s\n", r.Ref)
			}
			return nil
		},
	}
}
