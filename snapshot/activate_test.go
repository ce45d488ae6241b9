package snapshot

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vfs-project/vfs/store"
)

// importMap imports files (path -> content) as a snapshot.
func importMap(t *testing.T, st *store.Store, files map[string]string, labels ...string) store.Ref {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, files)
	res, err := ImportDir(context.Background(), st, dir, ImportOptions{Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	return res.Snapshot.ID
}

func TestActivateAndRollback(t *testing.T) {
	st := openStore(t)
	v1 := importMap(t, st, map[string]string{"i": "1"})
	v2 := importMap(t, st, map[string]string{"i": "2"})
	v3 := importMap(t, st, map[string]string{"i": "3"}) // imported, never activated
	who := Who{UID: 1000, PID: 42, User: "deploy"}
	if _, err := Rollback(st, DefaultRef, who, ""); !errors.Is(err, ErrNoHistory) {
		t.Fatalf("rollback of a new ref: %v", err)
	}
	Activate(st, DefaultRef, v1, who, "first")
	Activate(st, DefaultRef, v2, who, "second")
	Activate(st, "canary", v3, who, "try")
	e, err := Rollback(st, DefaultRef, who, "")
	if err != nil || e.To != v1 || e.From != v2 || e.Reason != "rollback" {
		t.Fatalf("rollback: %+v %v", e, err)
	}
	if cur, _ := st.NamedRef(DefaultRef); cur != v1 {
		t.Fatal("rollback went to the previous import, not the previously active snapshot")
	}
	if e, _ := Rollback(st, DefaultRef, who, ""); e.To != v2 {
		t.Fatal("a second rollback should undo the first")
	}
	if c, _ := st.NamedRef("canary"); c != v3 {
		t.Fatal("rollback of current moved canary")
	}
	log, _ := st.Log()
	if log[0].UID != 1000 || log[0].PID != 42 || log[0].User != "deploy" || log[0].Reason != "first" {
		t.Fatalf("log entry %+v", log[0])
	}
	if _, err := Activate(st, "a/b", v1, who, ""); err == nil {
		t.Fatal("ref name with a slash accepted")
	}
}

func TestResolve(t *testing.T) {
	st := openStore(t)
	v1 := importMap(t, st, map[string]string{"i": "1"}, "release-1")
	Activate(st, "canary", v1, Who{}, "")
	for _, s := range []string{v1.String(), v1.String()[:6], v1.Short(), "release-1", "canary"} {
		if id, err := Resolve(st, s); err != nil || id != v1 {
			t.Errorf("Resolve(%q) = %s, %v", s, id.Short(), err)
		}
	}
	for _, s := range []string{v1.String()[:5], "nolabel", "ffffffffffff"} {
		if _, err := Resolve(st, s); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Resolve(%q): %v, want ErrNotFound", s, err)
		}
	}
}

func TestDiff(t *testing.T) {
	st := openStore(t)
	a := importMap(t, st, map[string]string{"same": "s", "gone/x": "1", "gone/y": "2", "edit": "old", "keep/k": "k"})
	b := importMap(t, st, map[string]string{"same": "s", "new/z": "3", "edit": "newer", "keep/k": "k"})
	changes, err := Diff(st, a, b)
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{
		{Op: Changed, Path: "/edit", Kind: store.KindFile, OldSize: 3, NewSize: 5},
		{Op: Removed, Path: "/gone/x", Kind: store.KindFile, OldSize: 1},
		{Op: Removed, Path: "/gone/y", Kind: store.KindFile, OldSize: 1},
		{Op: Added, Path: "/new/z", Kind: store.KindFile, NewSize: 1},
	}
	if len(changes) != len(want) {
		t.Fatalf("diff = %+v", changes)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Errorf("change %d = %+v, want %+v", i, changes[i], want[i])
		}
	}
	if c, _ := Diff(st, a, a); len(c) != 0 {
		t.Fatal("diff of a snapshot with itself is not empty")
	}
}

func TestRemove(t *testing.T) {
	st := openStore(t)
	v1 := importMap(t, st, map[string]string{"i": "1"})
	Activate(st, DefaultRef, v1, Who{}, "")
	if err := Remove(st, v1, Who{}); !errors.Is(err, store.ErrInUse) {
		t.Fatalf("remove of the active snapshot: %v", err)
	}
	v2 := importMap(t, st, map[string]string{"i": "2"})
	if err := Remove(st, v2, Who{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(st, v2.String()); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("removed snapshot still resolves")
	}
}

// Activating the snapshot a ref already serves changes nothing and logs
// nothing, and rollback goes to the last different snapshot the ref served.
func TestReactivationIsANoOpAndRollbackSkipsIt(t *testing.T) {
	st := openStore(t)
	v1 := importMap(t, st, map[string]string{"i": "1"})
	v2 := importMap(t, st, map[string]string{"i": "2"})
	Activate(st, DefaultRef, v1, Who{}, "")
	Activate(st, DefaultRef, v2, Who{}, "")
	_, err := Activate(st, DefaultRef, v2, Who{}, "again")
	if !errors.Is(err, store.ErrUnchanged) {
		t.Fatalf("re-activation: %v, want ErrUnchanged", err)
	}
	if log, _ := st.Log(); len(log) != 2 {
		t.Fatalf("re-activation logged: %d entries", len(log))
	}
	e, err := Rollback(st, DefaultRef, Who{}, "")
	if err != nil || e.To != v1 {
		t.Fatalf("rollback after a re-activation: %+v %v", e, err)
	}
}

// A clock that steps back between two activations does not reorder the
// log: rollback goes back to what the ref served before, by the log's
// sequence, and the log's times never go backwards.
func TestRollbackFollowsTheLogNotTheClock(t *testing.T) {
	st := openStore(t)
	a := importMap(t, st, map[string]string{"i": "a"})
	b := importMap(t, st, map[string]string{"i": "b"})
	c := importMap(t, st, map[string]string{"i": "c"})
	t0 := time.Now().Add(-10 * time.Hour)
	for _, step := range []struct {
		id store.Ref
		at time.Time
	}{{a, t0}, {b, t0.Add(time.Hour)}, {c, t0.Add(-time.Hour)}} {
		if _, err := st.SetRef(DefaultRef, step.id, store.LogEntry{Time: step.at}); err != nil {
			t.Fatal(err)
		}
	}
	e, err := Rollback(st, DefaultRef, Who{}, "")
	if err != nil || e.To != b {
		t.Fatalf("rollback went to %s (%v), want %s", e.To.Short(), err, b.Short())
	}
	log, _ := st.Log()
	for i := 1; i < len(log); i++ {
		if log[i].Time.Before(log[i-1].Time) {
			t.Errorf("log entry %d is earlier than entry %d", log[i].Seq, log[i-1].Seq)
		}
	}
}

// A snapshot removed by prune or rm is named as such by rollback, by
// activation and by @TIME, with when and by whom; never as damage, also
// after gc took its objects.
func TestRemovedSnapshotIsNamedRemoved(t *testing.T) {
	st := openStore(t)
	v1 := importMap(t, st, map[string]string{"i": "v1"})
	v2 := importMap(t, st, map[string]string{"i": "v2"})
	var at time.Time // when v1 was served
	for _, id := range []store.Ref{v1, v2} {
		if _, err := Activate(st, DefaultRef, id, Who{}, ""); err != nil {
			t.Fatal(err)
		}
		if id == v1 {
			at = time.Now()
			time.Sleep(2 * time.Millisecond)
		}
	}
	decisions, err := Prune(st, Policy{KeepLast: 1}, false, time.Now(), Who{UID: 7, User: "ops"}, nil)
	if err != nil || len(decisions) != 2 {
		t.Fatalf("prune: %v %v", decisions, err)
	}
	if _, err := st.GC(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	_, err = Rollback(st, DefaultRef, Who{}, "")
	if !errors.Is(err, store.ErrRemoved) || !strings.Contains(err.Error(), "pruned") || !strings.Contains(err.Error(), "ops") || strings.Contains(err.Error(), "damaged") {
		t.Errorf("rollback to a pruned snapshot: %v", err)
	}
	if _, err := Activate(st, "canary", v1, Who{}, ""); !errors.Is(err, store.ErrRemoved) {
		t.Errorf("activate a pruned snapshot: %v", err)
	}
	if _, err := st.Snapshot(v1); !errors.Is(err, store.ErrRemoved) || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the record of a pruned snapshot: %v", err)
	}
	id, err := At(st, DefaultRef, at, time.Now())
	if err != nil || id != v1 {
		t.Fatalf("at: %s %v", id.Short(), err)
	}
	if _, err := st.Snapshot(id); !errors.Is(err, store.ErrRemoved) {
		t.Errorf("the record of what current served then: %v", err)
	}
	if _, err := Resolve(st, "@"+at.UTC().Format(time.RFC3339Nano)); !errors.Is(err, store.ErrRemoved) || !strings.Contains(err.Error(), "pruned") {
		t.Errorf("@TIME of a pruned snapshot: %v", err)
	}
	// Imported again, it is no longer removed.
	if again := importMap(t, st, map[string]string{"i": "v1"}); again != v1 {
		t.Fatal("the same tree has another id")
	}
	if _, err := Activate(st, DefaultRef, v1, Who{}, ""); err != nil {
		t.Errorf("activate the re-imported snapshot: %v", err)
	}
}

func TestStepsBack(t *testing.T) {
	a, b, c := store.Ref{1}, store.Ref{2}, store.Ref{3}
	entry := func(from, to store.Ref, s int) store.LogEntry {
		return store.LogEntry{Ref: "current", From: from, To: to, Seq: uint64(s), Time: time.Unix(int64(s), 0)}
	}
	h := LogHistory{entry(store.Ref{}, a, 1), entry(a, b, 2), entry(b, c, 3)}
	for n, want := range map[int]store.Ref{1: b, 2: a} {
		if got, err := StepsBack(h, "current", c, n); err != nil || got != want {
			t.Errorf("%d steps back from c: %s %v", n, got.Short(), err)
		}
	}
	if _, err := StepsBack(h, "current", c, 3); !errors.Is(err, ErrNoHistory) {
		t.Errorf("3 steps back: %v", err)
	}
	toggled := LogHistory{entry(store.Ref{}, a, 1), entry(a, b, 2), entry(b, a, 3), entry(a, b, 4)}
	if got, err := StepsBack(toggled, "current", b, 1); err != nil || got != a {
		t.Errorf("after toggling, 1 step back: %s %v", got.Short(), err)
	}
	if _, err := StepsBack(toggled, "current", b, 2); !errors.Is(err, ErrNoHistory) {
		t.Errorf("after toggling, 2 steps back: %v", err)
	}
}
