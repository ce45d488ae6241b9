package snapshot

import (
	"fmt"
	"time"

	"github.com/vfs-project/vfs/store"
)

// ErrPrehistory: the time asked for is before ref's first activation, or
// after now (the future is not known yet). It is a kind of not found.
var ErrPrehistory = fmt.Errorf("no activation of the ref at that time: %w", store.ErrNotFound)

// History is a ref's activations by time: *store.Store reads its index;
// LogHistory reads a copy of the log (what a client of the daemon has).
type History interface {
	// RefHistory calls fn with the activations of ref name at or before
	// instant before, newest first, until fn returns false.
	RefHistory(name string, before time.Time, fn func(store.LogEntry) bool) error
}

// LogHistory is History over an activation log, oldest first.
type LogHistory []store.LogEntry

// RefHistory implements History.
func (l LogHistory) RefHistory(name string, before time.Time, fn func(store.LogEntry) bool) error {
	for i := len(l) - 1; i >= 0; i-- {
		if l[i].Ref == name && !l[i].Time.After(before) && !fn(l[i]) {
			return nil
		}
	}
	return nil
}

// At returns the snapshot ref served at instant t. The instant of an
// activation belongs to its new snapshot.
func At(h History, ref string, t, now time.Time) (store.Ref, error) {
	if t.After(now) {
		return store.Ref{}, fmt.Errorf("%s at %s is in the future: %w", ref, t.Format(time.RFC3339), ErrPrehistory)
	}
	var found store.Ref
	seen := false
	err := h.RefHistory(ref, t, func(e store.LogEntry) bool {
		found, seen = e.To, true
		return false
	})
	if err != nil {
		return found, err
	}
	if seen && found.IsZero() {
		return found, fmt.Errorf("%s at %s: the ref had been removed: %w", ref, t.Format(time.RFC3339), ErrPrehistory)
	}
	if found.IsZero() {
		return found, fmt.Errorf("%s at %s: before its first activation: %w", ref, t.Format(time.RFC3339), ErrPrehistory)
	}
	return found, nil
}

// ParseAt parses the time of "@TIME" (RFC 3339, fractions allowed).
func ParseAt(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, fmt.Errorf("time %q: want RFC 3339 such as 2026-11-20T10:00:00Z: %w", s, store.ErrNotFound)
	}
	return t, nil
}
