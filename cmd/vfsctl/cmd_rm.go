package main

func rmCommand(e *env) *command {
	return &command{
		name: "snapshot rm", args: "ID|LABEL", nargs: [2]int{1, 1},
		summary: "remove a snapshot (refused while a ref points at it)",
		help:    "Removes the snapshot's record and labels. Its objects stay in the store\nuntil garbage collection, shared objects as long as any snapshot uses them.",
		run: func(e *env, args []string) error {
			st, id, err := e.resolve(args[0])
			if err != nil {
				return err
			}
			if err := st.RemoveSnapshot(e.ctx, id); err != nil {
				return err
			}
			e.note("removed snapshot %s", id.Short())
			return nil
		},
	}
}
