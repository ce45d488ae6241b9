package ctl

import (
	"errors"
	"fmt"
	"io"
	"net/rpc"
	"strings"
	"syscall"

	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// API is everything vfsctl asks of a store.
type API interface {
	store.Reader
	snapshot.Resolver
	snapshot.Target
	NamedRefs() (map[string]store.Ref, error)
	Log() ([]store.LogEntry, error)
	Activate(ref string, id store.Ref, reason string, verify bool) (Activation, error)
	Rollback(ref, reason string) (Activation, error)
	Remove(id store.Ref) error
	AddLabel(id store.Ref, label string) error
	Verify(ids []store.Ref) (*snapshot.Report, error)
	Status() (Status, error)
	Classes() (snapshot.Classes, error)
	SetClasses(c snapshot.Classes) error
	Policy() (snapshot.Policy, error)
	SetPolicy(p snapshot.Policy) error
	Prune(p snapshot.Policy, dryRun bool) ([]snapshot.Decision, error)
	GC() (store.GCStats, error)
	Purge(target, reason string) ([]store.PurgeRecord, error)
	Backup(w io.Writer) error
	Close() error
}

// Activation is a completed activation: its log entry, and the messages
// of the post-activation hooks that failed (the activation stands).
type Activation struct {
	store.LogEntry
	HookFailures []string `json:"hook_failures,omitempty"`
	// Unchanged: the ref already served the snapshot; nothing was logged
	// and no hook ran.
	Unchanged bool `json:"unchanged,omitempty"`
}

// Status describes a store and, through the socket, the daemon serving it.
type Status struct {
	Store     string               `json:"store"`
	Mount     string               `json:"mount,omitempty"` // empty: no daemon
	PID       int                  `json:"pid,omitempty"`
	Snapshots int                  `json:"snapshots"`
	Bytes     int64                `json:"store_bytes"`
	Refs      map[string]store.Ref `json:"refs"`
}

// Error kinds carried across the socket, so that errors.Is works on the
// client as it does on the daemon.
var kinds = []struct {
	name string
	err  error
}{
	{"not_found", store.ErrNotFound},
	{"corrupt", store.ErrCorrupt},
	{"busy", store.ErrBusy},
	{"in_use", store.ErrInUse},
	{"label_taken", store.ErrLabelTaken},
	{"ambiguous", snapshot.ErrAmbiguous},
	{"no_history", snapshot.ErrNoHistory},
	{"unsupported", snapshot.ErrUnsupported},
	{"invalid", store.ErrInvalid},
	{"import_ended", store.ErrImportEnded},
	{"bad_archive", snapshot.ErrBadArchive},
	{"no_space", syscall.ENOSPC},
}

// kindSep separates an error's kind from its message on the wire.
const kindSep = "\x00"

// encodeErr prefixes err's message with its kind, for net/rpc, which sends
// only a string.
func encodeErr(err error) error {
	if err == nil {
		return nil
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return errors.New(k.name + kindSep + err.Error())
		}
	}
	return errors.New("error" + kindSep + err.Error())
}

// remoteError is an error from the daemon; it unwraps to its sentinel.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

// decodeErr is encodeErr's inverse.
func decodeErr(err error) error {
	var se rpc.ServerError
	if err == nil || !errors.As(err, &se) {
		if errors.Is(err, rpc.ErrShutdown) {
			return fmt.Errorf("vfsd closed the connection: %w", err)
		}
		return err
	}
	name, msg, ok := strings.Cut(string(se), kindSep)
	if !ok {
		return errors.New(string(se))
	}
	for _, k := range kinds {
		if k.name == name {
			return &remoteError{msg: msg, kind: k.err}
		}
	}
	return &remoteError{msg: msg}
}
