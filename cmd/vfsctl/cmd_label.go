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
			if err := checkLabel(args[1]); err != nil {
				return err
			}
			if err := api.AddLabel(e.ctx, id, args[1]); err != nil {
				return err
			}
			e.note("labelled %s as %s", id.Short(), args[1])
			return nil
		},
	}
}

// checkLabel keeps labels usable as one path component of the mount.
func checkLabel(l string) error {
	for _, r := range l {
		if r == '/' || r < 0x20 {
			return usageError{"a label is one path component: no '/' or control characters"}
		}
	}
	if l == "" || l == "." || l == ".." || l[0] == '@' {
		return usageError{"a label must not be empty, '.', '..', or start with '@'"}
	}
	return nil
}
