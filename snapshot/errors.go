package snapshot

import "errors"

// Sentinel errors, matched with errors.Is. Store errors (store.ErrNotFound,
// store.ErrCorrupt, store.ErrBusy) pass through wrapped.
var (
	// ErrUnsupported: the source holds something a snapshot cannot keep
	// (device, socket, fifo, a symlink that escapes, an unsafe tar path).
	ErrUnsupported = errors.New("unsupported entry")
	// ErrAmbiguous: an id prefix matches more than one snapshot.
	ErrAmbiguous = errors.New("ambiguous snapshot id")
	// ErrNoHistory: rollback has no earlier snapshot to return to.
	ErrNoHistory = errors.New("no earlier activation")
	// ErrChanged: a source file changed while it was read.
	ErrChanged = errors.New("file changed during import")
	// ErrBadArchive: a tar archive, or its compression, is damaged or
	// truncated.
	ErrBadArchive = errors.New("damaged or truncated archive")
)
