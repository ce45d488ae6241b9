package ctl

import (
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// Mount is what the control plane tells the daemon's file system of the
// changes it makes to the store, and asks of it: the one boundary between
// them. *fs.FS implements it; vfsctl without a daemon has none. Its
// methods must not block on FUSE requests (they are called while a
// request on the socket waits).
type Mount interface {
	// Retarget: a ref moved, by the log entry seq (moves heard out of
	// order settle on the last).
	Retarget(ref string, id store.Ref, seq uint64)
	// Lookahead: a snapshot is staged to become ref's target (a
	// cluster's next release); its assets are served already.
	Lookahead(ref string, id store.Ref)
	// Forget: a snapshot's record went.
	Forget(id store.Ref)
	// Purged: a content was withdrawn from /a/ and carry-over.
	Purged(ref store.Ref)
	// SetClasses: the asset classes changed.
	SetClasses(c snapshot.Classes)
	// LabelChanged: a label moved or went.
	LabelChanged(name string)
	// LiveFiles lists the contents the kernel still holds (gc keeps
	// them).
	LiveFiles() []store.Ref
}

// Events hears of what the control plane did, for metrics.
type Events interface {
	Activated(ref string)
	Collected(store.GCStats)
}
