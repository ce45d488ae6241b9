package snapshot

import (
	"fmt"
	"time"

	"github.com/vfs-project/vfs/store"
)

// ErrPrehistory: the time asked for is before ref's first activation, or
// after now (the future is not known yet). It is a kind of not found.
var ErrPrehistory = fmt.Errorf("no activation of the ref at that time: %w", store.ErrNotFound)

// At returns the snapshot ref served at instant t, from the activation log
// (oldest first). The instant of an activation belongs to its new
// snapshot.
func At(log []store.LogEntry, ref string, t, now time.Time) (store.Ref, error) {
	if t.After(now) {
		return store.Ref{}, fmt.Errorf("%s at %s is in the future: %w", ref, t.Format(time.RFC3339), ErrPrehistory)
	}
	var found store.Ref
	for _, e := range log {
		if e.Time.After(t) {
			break
		}
		if e.Ref == ref {
			found = e.To
		}
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
