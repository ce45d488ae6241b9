package ctl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"syscall"

	"github.com/vfs-project/vfs/sign"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// ErrForbidden: the socket's peer is neither root, nor the daemon's user,
// nor a member of the socket's group.
var ErrForbidden = errors.New("forbidden")

// ErrInterrupted: the caller's context ended while it waited on vfsd.
var ErrInterrupted = errors.New("interrupted")

// ErrUnavailable: vfsd is stopping, or cannot be reached.
var ErrUnavailable = errors.New("vfsd unavailable")

// A Kind is one class of error the API reports: its stable name on the
// wire, the sentinel errors.Is finds on both sides, the HTTP status, and
// vfsctl's exit code (docs/cli.md). Kinds is the one table of them.
type Kind struct {
	Name   string
	Err    error
	Status int
	Exit   int
	Doc    string
}

// Exit codes of vfsctl that a kind can map to (docs/cli.md lists all).
const (
	ExitError    = 1
	ExitNotFound = 3
	ExitBusy     = 4
	ExitDamaged  = 5
	ExitRefused  = 6
	ExitUnsigned = 7
)

// Kinds lists every error kind; the first whose Err matches an error
// names it. The last, "error", matches what no other does.
var Kinds = []Kind{
	{"removed", store.ErrRemoved, http.StatusGone, ExitNotFound, "the snapshot was removed by prune or rm; the message says when and by whom"},
	{"not_found", store.ErrNotFound, http.StatusNotFound, ExitNotFound, "no such snapshot, label, ref, object, import or route"},
	{"ambiguous", snapshot.ErrAmbiguous, http.StatusBadRequest, ExitNotFound, "an id prefix matches several snapshots"},
	{"corrupt", store.ErrCorrupt, http.StatusInternalServerError, ExitDamaged, "stored data does not match its hash; run verify, then restore"},
	{"busy", store.ErrBusy, http.StatusServiceUnavailable, ExitBusy, "the store is held by another process"},
	{"in_use", store.ErrInUse, http.StatusConflict, ExitError, "a ref points at the snapshot, or it is pinned"},
	{"label_taken", store.ErrLabelTaken, http.StatusConflict, ExitError, "the label names another snapshot"},
	{"no_history", snapshot.ErrNoHistory, http.StatusConflict, ExitError, "rollback: the ref never served another snapshot"},
	{"invalid", store.ErrInvalid, http.StatusBadRequest, ExitRefused, "the request or the content it carries breaks a rule (docs/security.md)"},
	{"unsupported", snapshot.ErrUnsupported, http.StatusUnprocessableEntity, ExitRefused, "a snapshot cannot hold this kind of file"},
	{"bad_archive", snapshot.ErrBadArchive, http.StatusUnprocessableEntity, ExitRefused, "a tar archive is malformed or truncated"},
	{"import_ended", store.ErrImportEnded, http.StatusGone, ExitError, "the import was committed, aborted, or lost its lease"},
	{"no_space", syscall.ENOSPC, http.StatusInsufficientStorage, ExitError, "the store's file system is (nearly) full"},
	{"unsigned", sign.ErrUnsigned, http.StatusForbidden, ExitUnsigned, "the snapshot lacks a valid signature from the daemon's allowed signers (vfsd --allowed-signers); the message says what each signature lacked"},
	{"forbidden", ErrForbidden, http.StatusForbidden, ExitError, "the caller may not use the socket"},
	{"timeout", context.DeadlineExceeded, http.StatusGatewayTimeout, ExitError, "the request's deadline passed before it finished"},
	{"conflict", ErrConflict, http.StatusConflict, ExitError, "another cluster activation of the ref came first, or membership changed before the flip"},
	{"etcd", ErrEtcd, http.StatusServiceUnavailable, ExitError, "etcd did not answer or refused: the cluster cannot decide anything until it does"},
	{"managed", ErrManaged, http.StatusConflict, ExitError, "the cluster manages the ref: move it with --cluster (or --local, a logged exception that makes the node unready)"},
	{"no_cluster", ErrNoCluster, http.StatusConflict, ExitError, "vfsd is in no cluster"},
	{"unavailable", ErrUnavailable, http.StatusServiceUnavailable, ExitError, "vfsd is stopping"},
	{"error", nil, http.StatusInternalServerError, ExitError, "anything else; the message says what"},
}

// KindOf returns the kind of err.
func KindOf(err error) Kind {
	for _, k := range Kinds {
		if k.Err != nil && errors.Is(err, k.Err) {
			return k
		}
	}
	return Kinds[len(Kinds)-1]
}

// ExitCode is vfsctl's exit code for err (nil: 0).
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	return KindOf(err).Exit
}

// apiError is an error as the API sends it: {"kind": ..., "message": ...}.
type apiError struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func toAPIError(err error) apiError {
	return apiError{Kind: KindOf(err).Name, Message: err.Error()}
}

// remoteError is an error from the daemon; it unwraps to its kind's
// sentinel, so errors.Is works on the client as on the daemon.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

// err turns a received error back into one errors.Is understands.
func (a apiError) err() error {
	for _, k := range Kinds {
		if k.Name == a.Kind {
			return &remoteError{msg: a.Message, kind: k.Err}
		}
	}
	return &remoteError{msg: fmt.Sprintf("%s (%s)", a.Message, a.Kind)}
}
