package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"

	"github.com/vfs-project/vfs/ctl"
)

func backupCommand(e *env) *command {
	return &command{
		name: "backup", noJSON: true, args: "FILE|-", nargs: [2]int{1, 1},
		summary: "write a full backup of the store (Badger's backup format)",
		run: func(e *env, args []string) error {
			api, err := e.store()
			if err != nil {
				return err
			}
			if args[0] == "-" {
				return api.Backup(e.ctx, e.stdout)
			}
			return writeFileAtomically(e, "store", args[0], func(w *bufio.Writer) error { return api.Backup(e.ctx, w) })
		},
	}
}

func restoreCommand(e *env) *command {
	return &command{
		name: "restore", noJSON: true, args: "FILE", nargs: [2]int{1, 1},
		summary: "load a backup into a new, empty store (--store; not through vfsd)",
		run: func(e *env, args []string) error {
			if !e.storeSet {
				return usageError{"restore loads a store directory directly: name a new one with --store (vfsd stopped)"}
			}
			e.create = true
			api, err := e.store()
			if err != nil {
				return err
			}
			local, ok := api.(*ctl.Local)
			if !ok {
				return errors.New("restore needs the store itself")
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			if err := local.Store().Restore(bufio.NewReaderSize(f, 1<<20)); err != nil {
				return err
			}
			st, err := local.Status(e.ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "restored %s into %s\n", count(st.Snapshots, "snapshot"), st.Store)
			return nil
		},
	}
}
