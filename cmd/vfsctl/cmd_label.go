package main

func labelCommand(e *env) *command {
	return &command{
		name: "snapshot label", args: "ID LABEL", nargs: [2]int{2, 2},
		summary: "give a snapshot a label (usable wherever an id is; labelled snapshots are never pruned)",
		run: func(e *env, args []string) error {
			api, id, err := e.resolve(args[0])
			if err != nil {
				return err
			}
			if err := api.AddLabel(e.ctx, id, args[1]); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]any{"id": id, "label": args[1]})
			}
			e.note("labelled %s as %s", id.Short(), args[1])
			return nil
		},
	}
}
