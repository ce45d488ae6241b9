package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"strconv"

	"github.com/dustin/go-humanize"
	"github.com/spf13/pflag"
	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/precompress"
	"github.com/vfs-project/vfs/remote"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// Where vfsctl connects when neither a flag nor the environment says.
const (
	defaultSocket = "/run/vfs/vfsd.sock"
	defaultStore  = "/var/lib/vfs"
)

// env is what every command gets: global options, output streams and the
// store, opened on first use.
type env struct {
	ctx            context.Context
	stdout, stderr io.Writer
	storeDir       string
	socket         string
	// storeSet and socketSet: given on the command line, which beats the
	// environment.
	storeSet, socketSet bool
	// create: the command may make a new store (import, restore); no
	// other does, so a mistyped --store is an error, not an empty store.
	create bool
	json   bool
	quiet  bool
	api    ctl.API
	// host is --host (or VFS_HOST): a vfsd reached over ssh.
	host    string
	hostSet bool
	stdin   io.Reader
}

// addGlobalFlags binds the global flags (cobra's persistent flags: they
// go before or after the command).
func (e *env) addGlobalFlags(fs *pflag.FlagSet) {
	fs.StringVar(&e.storeDir, "store", e.storeDir, "open this store directory directly (environment VFS_STORE; default "+defaultStore+")")
	fs.StringVar(&e.socket, "socket", e.socket, "talk to vfsd through this control socket (environment VFS_SOCKET; default "+defaultSocket+" when it exists)")
	fs.StringVar(&e.host, "host", e.host, "talk to the vfsd of another machine over ssh: ssh://[user@]host[:port] (environment VFS_HOST; VFS_SSH_COMMAND replaces the ssh command); --socket is then that machine's socket")
	fs.BoolVar(&e.json, "json", e.json, "print machine-readable JSON on standard output")
	fs.BoolVarP(&e.quiet, "quiet", "q", e.quiet, "print no progress or summaries on standard error")
}

// noteFlags records which of --store and --socket a parse saw.
func (e *env) noteFlags(fs *pflag.FlagSet) {
	e.storeSet = e.storeSet || fs.Changed("store")
	e.socketSet = e.socketSet || fs.Changed("socket")
	e.hostSet = e.hostSet || fs.Changed("host")
}

// remoteHost is the host vfsctl talks to over ssh: --host, else VFS_HOST
// (unless --socket or --store was given); ok is false for a local one.
func (e *env) remoteHost() (h remote.Host, ok bool, err error) {
	s := e.host
	if !e.hostSet {
		if e.socketSet || e.storeSet {
			return h, false, nil
		}
		s = os.Getenv("VFS_HOST")
	}
	if s == "" {
		return h, false, nil
	}
	if e.storeSet {
		return h, false, usageError{"--host and --store: a store directory is opened on this machine; give one"}
	}
	h, err = remote.ParseHost(s)
	if err != nil {
		return h, false, usageError{err.Error()}
	}
	return h, true, nil
}

// target decides where to connect: a flag on the command line, else the
// environment (VFS_SOCKET before VFS_STORE), else vfsd's default socket if
// one is there, else the default store. It returns a socket path or a
// store directory.
func (e *env) target() (socket, dir string, err error) {
	switch {
	case e.storeSet && e.socketSet:
		return "", "", usageError{"--store and --socket: give one (--socket talks to vfsd, which holds the store)"}
	case e.socketSet:
		return e.socket, "", nil
	case e.storeSet:
		return "", e.storeDir, nil
	}
	if s := os.Getenv("VFS_SOCKET"); s != "" {
		return s, "", nil
	}
	if d := os.Getenv("VFS_STORE"); d != "" {
		return "", d, nil
	}
	if fi, err := os.Stat(defaultSocket); err == nil && fi.Mode().Type() == os.ModeSocket {
		return defaultSocket, "", nil
	}
	return "", defaultStore, nil
}

// runningMount is the mount point of the vfsd vfsctl would talk to, or
// /srv/vfs (vfsd's documented default) when none answers.
func (e *env) runningMount() string {
	if socket, _, err := e.target(); err == nil && socket != "" {
		if c, err := ctl.Dial(e.ctx, socket); err == nil {
			defer c.Close()
			if st, err := c.Status(e.ctx); err == nil && st.Mount != "" {
				return st.Mount
			}
		}
	}
	return "/srv/vfs"
}

// store connects once: to vfsd's socket or to the store directory itself
// (which fails, explained, while vfsd holds it).
func (e *env) store() (ctl.API, error) {
	if e.api != nil {
		return e.api, nil
	}
	if h, ok, err := e.remoteHost(); err != nil {
		return nil, err
	} else if ok {
		socket := ""
		if e.socketSet {
			socket = e.socket
		}
		argv := h.Command(os.Getenv("VFS_SSH_COMMAND"), socket)
		c, err := ctl.DialWith(e.ctx, h.String(), func(ctx context.Context) (net.Conn, error) {
			return remote.Dial(ctx, h, argv, ctl.KindError)
		})
		if err != nil {
			return nil, err
		}
		e.api = c
		return c, nil
	}
	socket, dir, err := e.target()
	if err != nil {
		return nil, err
	}
	var api ctl.API
	if socket != "" {
		api, err = ctl.Dial(e.ctx, socket)
	} else {
		var local *ctl.Local
		local, err = ctl.OpenLocal(dir, who(), e.create)
		if errors.Is(err, store.ErrNotFound) {
			err = fmt.Errorf("%w (give --store the right directory, or --socket to talk to vfsd; vfsctl snapshot import makes a new store)", err)
		}
		if err == nil {
			// As vfsd does by default: an import compresses the text
			// files new to the store.
			comp, _ := precompress.New(nil)
			local.Store().SetCompressor(comp)
			api = local
		}
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

// count says n of a thing: "1 file", "2 files"; many is the plural, or
// the word with an s.
func count[N int | int64 | uint64](n N, one string, many ...string) string {
	if n == 1 {
		return "1 " + one
	}
	if len(many) > 0 {
		return fmt.Sprintf("%d %s", n, many[0])
	}
	return fmt.Sprintf("%d %ss", n, one)
}

// size says a number of bytes the way every command does.
func size[N int | int64 | uint64](n N) string { return humanize.IBytes(uint64(n)) }

// who identifies the caller for the activation log.
func who() snapshot.Who {
	w := snapshot.Who{UID: os.Getuid(), PID: os.Getpid()}
	if u, err := user.LookupId(strconv.Itoa(w.UID)); err == nil {
		w.User = u.Username
	}
	return w
}
