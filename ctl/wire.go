package ctl

import (
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// Request and response types of the socket protocol. Each RPC method of
// the service "VFS" takes one of these (or a builtin) and fills another.

// RefArg names an object or snapshot.
type RefArg struct{ Ref store.Ref }

// NameArg names a label.
type NameArg struct{ Name string }

// ReadArgs asks for Len bytes of file Ref from Off.
type ReadArgs struct {
	Ref store.Ref
	Off int64
	Len int
}

// StatArgs carries a stat cache entry of a client path.
type StatArgs struct {
	Path string
	Stat store.StatEntry
}

// CachedReply answers CachedRef.
type CachedReply struct {
	Ref store.Ref
	OK  bool
}

// PutFileArgs is a file record as the client computed it.
type PutFileArgs struct {
	Ref    store.Ref
	Size   uint64
	MTime  int64
	Chunks []store.Ref
}

// ActivateArgs moves a ref (Activate) or rolls it back (Rollback; ID unused).
type ActivateArgs struct {
	Ref    string
	ID     store.Ref
	Reason string
	Verify bool // re-hash every chunk before activating
}

// VerifyArgs lists snapshots to verify; none means all.
type VerifyArgs struct{ IDs []store.Ref }

// maxRead bounds one ReadAt request.
const maxRead = 4 << 20

// PruneArgs applies a policy, or only reports with DryRun.
type PruneArgs struct {
	Policy snapshot.Policy
	DryRun bool
}

// PurgeArgs names what to purge: a content hash or a path.
type PurgeArgs struct {
	Target string
	Reason string
}

// LabelArgs gives snapshot ID the label Name.
type LabelArgs struct {
	ID   store.Ref
	Name string
}
