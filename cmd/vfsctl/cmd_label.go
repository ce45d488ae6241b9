package main

import (
	"github.com/spf13/pflag"
)

func labelCommand(e *env) *command {
	var move bool
	return &command{
		name: "snapshot label", args: "ID|LABEL LABEL", nargs: [2]int{2, 2},
		summary: "give a snapshot a label, a name usable wherever an id is",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&move, "move", false, "take the label from the snapshot it names now")
		},
		run: func(e *env, args []string) error {
			api, id, err := e.resolve(args[0])
			if err != nil {
				return err
			}
			from, err := api.SetLabel(e.ctx, id, args[1], move)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]any{"id": id, "label": args[1], "from": from})
			}
			if !from.IsZero() {
				e.note("moved label %s from %s to %s", args[1], from.Short(), id.Short())
			} else {
				e.note("labelled %s as %s", id.Short(), args[1])
			}
			return nil
		},
	}
}

func unlabelCommand(e *env) *command {
	return &command{
		name: "snapshot unlabel", args: "LABEL", nargs: [2]int{1, 1},
		summary: "remove a label (the snapshot stays)",
		run: func(e *env, args []string) error {
			api, err := e.store()
			if err != nil {
				return err
			}
			from, err := api.RemoveLabel(e.ctx, args[0])
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]any{"label": args[0], "from": from})
			}
			e.note("removed label %s from %s", args[0], from.Short())
			return nil
		},
	}
}

func pinCommand(e *env, pin bool) *command {
	name, summary, verb := "snapshot pin", "keep a snapshot whatever the retention policy says", "pinned"
	if !pin {
		name, summary, verb = "snapshot unpin", "let retention remove a snapshot again", "unpinned"
	}
	return &command{
		name: name, args: "ID|LABEL", nargs: [2]int{1, 1},
		summary: summary,
		run: func(e *env, args []string) error {
			api, id, err := e.resolve(args[0])
			if err != nil {
				return err
			}
			if err := api.SetPinned(e.ctx, id, pin); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]any{"id": id, "pinned": pin})
			}
			e.note("%s %s", verb, id.Short())
			return nil
		},
	}
}
