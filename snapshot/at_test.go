package snapshot

import (
	"errors"
	"testing"
	"time"

	"github.com/vfs-project/vfs/store"
)

func TestAtBoundaries(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	a, b := store.Ref{1}, store.Ref{2}
	log := []store.LogEntry{
		{Ref: "current", To: a, Time: t0},
		{Ref: "canary", To: b, Time: t0.Add(30 * time.Second)},
		{Ref: "current", From: a, To: b, Time: t0.Add(time.Minute)},
	}
	now := t0.Add(time.Hour)
	cases := []struct {
		at   time.Time
		want store.Ref
	}{
		{t0, a},                       // the instant of an activation is the new snapshot's
		{t0.Add(59 * time.Second), a}, // canary's move does not count
		{t0.Add(time.Minute - time.Nanosecond), a},
		{t0.Add(time.Minute), b},
		{now, b},
	}
	for _, c := range cases {
		if got, err := At(LogHistory(log), "current", c.at, now); err != nil || got != c.want {
			t.Errorf("At(%s) = %v, %v; want %v", c.at.Format(time.RFC3339Nano), got[0], err, c.want[0])
		}
	}
	for _, bad := range []time.Time{t0.Add(-time.Nanosecond), now.Add(time.Second)} {
		if _, err := At(LogHistory(log), "current", bad, now); !errors.Is(err, ErrPrehistory) || !errors.Is(err, store.ErrNotFound) {
			t.Errorf("At(%s): %v, want ErrPrehistory", bad, err)
		}
	}
	if _, err := ParseAt("yesterday"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ParseAt(yesterday): %v", err)
	}
}
