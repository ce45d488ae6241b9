package store

import "errors"

// Sentinel errors, matched with errors.Is.
var (
	// ErrNotFound: the object, snapshot, label or ref does not exist.
	ErrNotFound = errors.New("not found")
	// ErrCorrupt: stored bytes do not match their hash or do not parse.
	ErrCorrupt = errors.New("corrupt object")
	// ErrBusy: another process holds the store open.
	ErrBusy = errors.New("in use by another process")
	// ErrSchema: the store was written with a schema this code does not read.
	ErrSchema = errors.New("unsupported store schema")
)

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
