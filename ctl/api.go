package ctl

import (
	"context"
	"io"

	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// API is everything vfsctl asks of a store. Local implements it in this
// process, Client through vfsd's socket; ctltest.Run checks both against
// one suite. The reads (store.Reader, snapshot.Resolver) take no context:
// a Client uses the one it was dialled with.
type API interface {
	store.Reader
	snapshot.Resolver
	snapshot.Target
	Activate(ctx context.Context, ref string, id store.Ref, reason string, verify bool) (Activation, error)
	Rollback(ctx context.Context, ref, reason string) (Activation, error)
	// RemoveRef deletes a ref other than current; the log records it.
	RemoveRef(ctx context.Context, ref, reason string) (store.LogEntry, error)
	RemoveSnapshot(ctx context.Context, id store.Ref) error
	// SetLabel gives snapshot id a label; with move, a label that names
	// another snapshot moves (from is where it was), else that is
	// store.ErrLabelTaken.
	SetLabel(ctx context.Context, id store.Ref, label string, move bool) (from store.Ref, err error)
	RemoveLabel(ctx context.Context, label string) (from store.Ref, err error)
	// SetPinned pins a snapshot (retention keeps it, rm refuses it) or
	// unpins it.
	SetPinned(ctx context.Context, id store.Ref, pinned bool) error
	// Signatures lists a snapshot's signatures; AddSignature checks one
	// and attaches it (docs/security.md, "Signed releases").
	Signatures(ctx context.Context, id store.Ref) ([]SignatureInfo, error)
	AddSignature(ctx context.Context, id store.Ref, armored []byte) (SignatureInfo, error)
	VerifySnapshots(ctx context.Context, ids []store.Ref, progress func(snapshot.VerifyProgress)) (*snapshot.Report, error)
	Status(ctx context.Context) (Status, error)
	Classes(ctx context.Context) (snapshot.Classes, error)
	SetClasses(ctx context.Context, c snapshot.Classes) error
	Policy(ctx context.Context) (snapshot.Policy, error)
	SetPolicy(ctx context.Context, p snapshot.Policy) error
	// Prune applies p; with a daemon whose grace is longer than
	// p.KeepWithin, only if forced (dry runs excepted).
	Prune(ctx context.Context, p snapshot.Policy, dryRun, force bool) ([]snapshot.Decision, error)
	CollectGarbage(ctx context.Context, progress func(GCProgress)) (store.GCStats, error)
	PurgeContent(ctx context.Context, target, reason string) ([]store.PurgeRecord, error)
	Backup(ctx context.Context, w io.Writer) error
	Close() error
}

// Activation is a completed activation: its log entry, and the messages
// of the post-activation hooks that failed (the activation stands).
type Activation struct {
	store.LogEntry
	HookFailures []string `json:"hook_failures"`
	// Unchanged: the ref already served the snapshot; nothing was logged
	// and no hook ran.
	Unchanged bool `json:"unchanged"`
}

// Status describes a store and, through the socket, the daemon serving it.
type Status struct {
	Store     string               `json:"store"`
	Mount     string               `json:"mount"` // empty: no daemon
	PID       int                  `json:"pid"`   // 0: no daemon
	Snapshots int                  `json:"snapshots"`
	Bytes     int64                `json:"store_bytes"`
	Refs      map[string]store.Ref `json:"refs"`
	ReadOnly  bool                 `json:"read_only"`
}

// GCProgress names the step a collection is in.
type GCProgress struct {
	Step string `json:"step"`
}
