package snapshot

import (
	"errors"
	"fmt"
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

// Activate points ref at snapshot id and logs it, after checking that
// every object the snapshot names is present (Guard's fast form): a
// snapshot with missing content is refused rather than served with holes.
func Activate(st *store.Store, ref string, id store.Ref, who Who, reason string) (store.LogEntry, error) {
	if err := store.CheckLabel(ref); err != nil {
		return store.LogEntry{}, fmt.Errorf("activate: ref name: %w", err)
	}
	// A snapshot that prune or rm took is named as such, before the
	// guard would call what gc left of it damage.
	if _, err := st.Snapshot(id); err != nil {
		return store.LogEntry{}, fmt.Errorf("activate %s on %s: %w", id.Short(), ref, err)
	}
	if err := Guard(st, id, false); err != nil {
		return store.LogEntry{}, err
	}
	e, err := st.SetRef(ref, id, store.LogEntry{Time: time.Now().UTC(), UID: who.UID, PID: who.PID, User: who.User, Reason: reason})
	if err != nil {
		return e, fmt.Errorf("activate %s on %s: %w", id.Short(), ref, err)
	}
	return e, nil
}

// Rollback points ref back at the last snapshot it served that differs
// from the one it serves now (not the previous import). A second rollback
// undoes the first. It reads the ref's history index, not the whole log.
func Rollback(st *store.Store, ref string, who Who, reason string) (store.LogEntry, error) {
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
	e, err := Activate(st, ref, back, who, reason)
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
