package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"

	"github.com/spf13/pflag"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// defaultStore is where the store lives unless --store or VFS_STORE say.
const defaultStore = "/var/lib/vfs"

// env is what every command gets: global options, output streams and the
// store, opened on first use.
type env struct {
	ctx            context.Context
	stdout, stderr io.Writer
	storeDir       string
	json           bool
	quiet          bool
	st             *store.Store
}

// addGlobalFlags binds the global flags. It runs twice, for the words
// before the command and after it; the second time the defaults are what
// the first parse found, so that binding again does not reset them.
func (e *env) addGlobalFlags(fs *pflag.FlagSet) {
	if e.storeDir == "" {
		e.storeDir = os.Getenv("VFS_STORE")
	}
	if e.storeDir == "" {
		e.storeDir = defaultStore
	}
	fs.StringVar(&e.storeDir, "store", e.storeDir, "store directory (environment VFS_STORE)")
	fs.BoolVar(&e.json, "json", e.json, "print machine-readable JSON on standard output")
	fs.BoolVarP(&e.quiet, "quiet", "q", e.quiet, "print no progress or summaries on standard error")
}

// store opens the store once. Badger lets one process hold a store: when
// another does, the error says so in words a user can act on.
func (e *env) store() (*store.Store, error) {
	if e.st != nil {
		return e.st, nil
	}
	st, err := store.Open(e.storeDir, store.Options{})
	if errors.Is(err, store.ErrBusy) {
		return nil, fmt.Errorf("store %s is in use by another process (is vfsd running?): %w", e.storeDir, store.ErrBusy)
	}
	if err != nil {
		return nil, err
	}
	e.st = st
	return st, nil
}

// resolve opens the store and resolves a snapshot id, prefix or label.
func (e *env) resolve(s string) (*store.Store, store.Ref, error) {
	st, err := e.store()
	if err != nil {
		return nil, store.Ref{}, err
	}
	id, err := snapshot.Resolve(st, s)
	return st, id, err
}

// printJSON writes v as indented JSON on standard output.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// note prints a summary line on standard error unless --quiet.
func (e *env) note(format string, a ...any) {
	if !e.quiet {
		fmt.Fprintf(e.stderr, format+"\n", a...)
	}
}

// who identifies the caller for the activation log.
func who() snapshot.Who {
	w := snapshot.Who{UID: os.Getuid(), PID: os.Getpid()}
	if u, err := user.LookupId(strconv.Itoa(w.UID)); err == nil {
		w.User = u.Username
	}
	return w
}
