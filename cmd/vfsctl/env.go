package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"

	"github.com/spf13/pflag"
	"github.com/vfs-project/vfs/ctl"
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
	socket         string
	json           bool
	quiet          bool
	api            ctl.API
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
	if e.socket == "" {
		e.socket = os.Getenv("VFS_SOCKET")
	}
	fs.StringVar(&e.storeDir, "store", e.storeDir, "store directory, opened directly when no --socket is given (environment VFS_STORE)")
	fs.StringVar(&e.socket, "socket", e.socket, "talk to vfsd through its control socket, e.g. /run/vfs/vfsd.sock (environment VFS_SOCKET)")
	fs.BoolVar(&e.json, "json", e.json, "print machine-readable JSON on standard output")
	fs.BoolVarP(&e.quiet, "quiet", "q", e.quiet, "print no progress or summaries on standard error")
}

// store connects once: to vfsd's socket when one is named, else to the
// store directory itself (which fails, explained, while vfsd holds it).
func (e *env) store() (ctl.API, error) {
	if e.api != nil {
		return e.api, nil
	}
	var api ctl.API
	var err error
	if e.socket != "" {
		api, err = ctl.Dial(e.ctx, e.socket)
	} else {
		api, err = ctl.OpenLocal(e.storeDir, who())
	}
	if err != nil {
		return nil, err
	}
	e.api = api
	return api, nil
}

// resolve connects and resolves a snapshot id, prefix or label.
func (e *env) resolve(s string) (ctl.API, store.Ref, error) {
	api, err := e.store()
	if err != nil {
		return nil, store.Ref{}, err
	}
	id, err := snapshot.Resolve(api, s)
	return api, id, err
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
