package main

func rmCommand(e *env) *command {
	return &command{
		name: "snapshot rm", args: "ID|LABEL", nargs: [2]int{1, 1},
		summary: "remove a snapshot (refused while a ref points at it)",
		run: func(e *env, args []string) error {
			st, id, err := e.resolve(args[0])
			if err != nil {
				return err
			}
			if err := st.RemoveSnapshot(e.ctx, id); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]any{"removed": id})
			}
			e.note("removed snapshot %s", id.Short())
			return nil
		},
	}
}
