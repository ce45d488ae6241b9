package snapshot

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vfs-project/vfs/store"
)

// Resolver is what Resolve reads: *store.Store and vfsd's socket client.
type Resolver interface {
	Label(name string) (store.Ref, error)
	Snapshot(id store.Ref) (store.SnapshotInfo, error)
	Snapshots() ([]store.SnapshotInfo, error)
	Log() ([]store.LogEntry, error)
	NamedRefs() (map[string]store.Ref, error)
}

// MinPrefix is the shortest id prefix Resolve accepts.
const MinPrefix = 6

// Resolve turns what a user typed into a snapshot id: a full id, a unique
// id prefix of at least MinPrefix hex characters, a label, a ref's name
// (current, canary: its target now), or @TIME (ParseTime: RFC 3339, a
// date, "yesterday", "2h ago"): what current
// served at that instant. A label wins over a ref name, and both over a
// prefix that happens to look like hex.
func Resolve(st Resolver, s string) (store.Ref, error) {
	if t, ok := strings.CutPrefix(s, "@"); ok {
		at, err := ParseTime(t, time.Now())
		if err != nil {
			return store.Ref{}, err
		}
		log, err := st.Log()
		if err != nil {
			return store.Ref{}, err
		}
		id, err := At(LogHistory(log), DefaultRef, at, time.Now())
		if err != nil {
			return id, err
		}
		// What current served then may have been pruned since: say so,
		// rather than fail later on a tree that gc took.
		if _, err := st.Snapshot(id); errors.Is(err, store.ErrRemoved) {
			return id, fmt.Errorf("%s at %s: %w", DefaultRef, at.Format(time.RFC3339), err)
		}
		return id, nil
	}
	if id, err := st.Label(s); err == nil {
		return id, nil
	} else if !isNotFound(err) {
		return id, err
	}
	refs, err := st.NamedRefs()
	if err != nil {
		return store.Ref{}, err
	}
	if id, ok := refs[s]; ok {
		return id, nil
	}
	if !isHex(s) || len(s) < MinPrefix {
		return store.Ref{}, fmt.Errorf("snapshot %q: no such label or ref, and not an id prefix of %d+ hex characters: %w", s, MinPrefix, store.ErrNotFound)
	}
	if len(s) == 2*store.RefSize {
		id, _ := store.ParseRef(s)
		if _, err := st.Snapshot(id); err != nil {
			return id, err
		}
		return id, nil
	}
	return resolvePrefix(st, strings.ToLower(s))
}

func resolvePrefix(st Resolver, prefix string) (store.Ref, error) {
	all, err := st.Snapshots()
	if err != nil {
		return store.Ref{}, err
	}
	var found []store.Ref
	for _, info := range all {
		if strings.HasPrefix(info.ID.String(), prefix) {
			found = append(found, info.ID)
		}
	}
	switch len(found) {
	case 0:
		return store.Ref{}, fmt.Errorf("snapshot %s: %w", prefix, store.ErrNotFound)
	case 1:
		return found[0], nil
	}
	return store.Ref{}, fmt.Errorf("snapshot %s matches %d snapshots (%s, %s, ...): %w", prefix, len(found), found[0].Short(), found[1].Short(), ErrAmbiguous)
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s + strings.Repeat("0", len(s)%2))
	return err == nil
}
