package snapshot

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vfs-project/vfs/store"
)

// DefaultRef is the ref the mount serves at /current.
const DefaultRef = "current"

// Who is the person or process behind an activation, for the log.
type Who struct {
	UID  int
	PID  int
	User string
}

// A Gate decides whether snapshot id may be served under ref, and names
// who vouched for it, for the activation log (vfsd --allowed-signers: the
// principal of a valid signature). An error refuses the activation.
type Gate func(ref string, id store.Ref) (vouched string, err error)

// Activate points ref at snapshot id and logs it, after checking that
// every object the snapshot names is present (Guard's fast form): a
// snapshot with missing content is refused rather than served with holes.
func Activate(st *store.Store, ref string, id store.Ref, who Who, reason string) (store.LogEntry, error) {
	return ActivateThrough(st, ref, id, who, reason, nil)
}

// ActivateThrough is Activate that asks gate (if set) first.
func ActivateThrough(st *store.Store, ref string, id store.Ref, who Who, reason string, gate Gate) (store.LogEntry, error) {
	if err := store.CheckLabel(ref); err != nil {
		return store.LogEntry{}, fmt.Errorf("activate: ref name: %w", err)
	}
	// A snapshot that prune or rm took is named as such, before the
	// guard would call what gc left of it damage.
	if _, err := st.Snapshot(id); err != nil {
		return store.LogEntry{}, fmt.Errorf("activate %s on %s: %w", id.Short(), ref, err)
	}
	var signer string
	if gate != nil {
		var err error
		if signer, err = gate(ref, id); err != nil {
			return store.LogEntry{}, fmt.Errorf("activate %s on %s: %w", id.Short(), ref, err)
		}
	}
	if err := Guard(st, id, false); err != nil {
		return store.LogEntry{}, err
	}
	e, err := st.SetRef(ref, id, store.LogEntry{Time: time.Now().UTC(), UID: who.UID, PID: who.PID, User: who.User, Reason: reason, Signer: signer})
	if err != nil {
		return e, fmt.Errorf("activate %s on %s: %w", id.Short(), ref, err)
	}
	return e, nil
}

// Rollback points ref back at the last snapshot it served that differs
// from the one it serves now (not the previous import). A second rollback
// undoes the first. It reads the ref's history index, not the whole log.
func Rollback(st *store.Store, ref string, who Who, reason string) (store.LogEntry, error) {
	return RollbackThrough(st, ref, who, reason, nil)
}

// RollbackThrough is Rollback that asks gate (if set) of the snapshot it
// goes back to: a rollback is an activation like any other.
func RollbackThrough(st *store.Store, ref string, who Who, reason string, gate Gate) (store.LogEntry, error) {
	cur, err := st.NamedRef(ref)
	if isNotFound(err) {
		return store.LogEntry{}, fmt.Errorf("rollback %s: %w", ref, ErrNoHistory)
	}
	if err != nil {
		return store.LogEntry{}, fmt.Errorf("rollback %s: %w", ref, err)
	}
	back, err := RollbackTarget(st, ref, cur)
	if err != nil {
		return store.LogEntry{}, err
	}
	if reason == "" {
		reason = "rollback"
	}
	e, err := ActivateThrough(st, ref, back, who, reason, gate)
	if errors.Is(err, store.ErrRemoved) {
		return e, fmt.Errorf("rollback %s: the snapshot it served before cannot come back: %w", ref, err)
	}
	return e, err
}

// RollbackTarget is what a rollback of ref, which serves cur now, goes
// back to: the last snapshot it served that differs from cur. vfsctl's
// rollback --cluster asks it of the log it reads through vfsd.
func RollbackTarget(h History, ref string, cur store.Ref) (store.Ref, error) {
	var back store.Ref
	err := h.RefHistory(ref, time.Now().Add(time.Hour), func(e store.LogEntry) bool {
		// Entries of X -> X, written before re-activation became a no-op,
		// are skipped with the rest that lead nowhere else.
		if !e.From.IsZero() && e.From != cur {
			back = e.From
		}
		return back.IsZero()
	})
	if err != nil {
		return back, fmt.Errorf("rollback %s: %w", ref, err)
	}
	if back.IsZero() {
		return back, fmt.Errorf("rollback %s: %w", ref, ErrNoHistory)
	}
	return back, nil
}

// RemoveRef deletes ref (not current, which the mount serves at /current)
// and logs who removed it and why. What it served stays, like any
// snapshot, until retention lets it go.
func RemoveRef(st *store.Store, ref string, who Who, reason string) (store.LogEntry, error) {
	if ref == DefaultRef {
		return store.LogEntry{}, fmt.Errorf("remove ref %s: it is what the mount serves at /%s; activate another snapshot instead: %w", ref, ref, store.ErrInvalid)
	}
	if reason == "" {
		reason = "ref removed"
	}
	e, err := st.RemoveRef(ref, store.LogEntry{Time: time.Now().UTC(), UID: who.UID, PID: who.PID, User: who.User, Reason: reason})
	if isNotFound(err) {
		return e, fmt.Errorf("remove ref %s: no such ref: %w", ref, store.ErrNotFound)
	}
	return e, err
}

// StepsBack is the nth different snapshot ref served before cur, newest
// first (1: what RollbackTarget gives), each counted once: with targets
// A, B, C (now), 2 steps back is A; with A, B, A, B (now), 1 step is A and
// there is no second.
func StepsBack(h History, ref string, cur store.Ref, n int) (store.Ref, error) {
	if n < 1 {
		return store.Ref{}, fmt.Errorf("rollback %s: %d steps: %w", ref, n, store.ErrInvalid)
	}
	var seen []store.Ref
	err := h.RefHistory(ref, time.Now().Add(time.Hour), func(e store.LogEntry) bool {
		if !e.From.IsZero() && e.From != cur && !slices.Contains(seen, e.From) {
			seen = append(seen, e.From)
		}
		return len(seen) < n
	})
	if err != nil {
		return store.Ref{}, fmt.Errorf("rollback %s: %w", ref, err)
	}
	if len(seen) < n {
		return store.Ref{}, fmt.Errorf("rollback %s: it served %d other targets before, not %d: %w", ref, len(seen), n, ErrNoHistory)
	}
	return seen[n-1], nil
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// Guard checks a snapshot before activation: every tree is read and
// verified and every file record must exist; with full, every chunk is
// re-hashed too. A problem refuses the activation, naming the first path
// affected; the error wraps store.ErrNotFound or store.ErrCorrupt.
func Guard(st *store.Store, id store.Ref, full bool) error {
	var problems []store.Problem
	var err error
	if full {
		problems, err = st.Verify(id, nil)
	} else {
		problems, err = st.CheckPresent(id)
	}
	if err != nil {
		return fmt.Errorf("check snapshot %s: %w", id.Short(), err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("refusing to activate %s: %d objects damaged or missing, first %w",
			id.Short(), len(problems), problems[0])
	}
	return nil
}
