package fs

import (
	"time"

	"github.com/vfs-project/vfs/store"
)

// Source is what the file system reads. *store.Store implements it.
//
// Not-found is reported with an error wrapping store.ErrNotFound, damage
// with store.ErrCorrupt. ReadAt fills the caller's buffer, which the caller
// owns, and verifies what it copies. Implementations must be safe for
// concurrent use: FUSE requests arrive on many goroutines.
type Source interface {
	Tree(ref store.Ref) (*store.Tree, error)
	File(ref store.Ref) (*store.FileRecord, error)
	ReadAt(f *store.FileRecord, p []byte, off int64) (int, error)
	Snapshot(id store.Ref) (store.SnapshotInfo, error)
	Snapshots() ([]store.SnapshotInfo, error)
	NamedRefs() (map[string]store.Ref, error)
	// RefHistory calls fn with ref name's activations at or before
	// instant before, newest first, until fn returns false.
	RefHistory(name string, before time.Time, fn func(store.LogEntry) bool) error
	Label(name string) (store.Ref, error)
	Purged(ref store.Ref) (bool, error)
	// Private reports whether no snapshot names content ref readable by
	// others; /a/ then serves it to its owner (root) only.
	Private(ref store.Ref) bool
	// Variant returns content's variant in enc (store/variants.go); ok
	// is false when it has none.
	Variant(content store.Ref, enc store.Encoding) (ref store.Ref, ok bool, err error)
}
