package snapshot

import (
	"strings"
	"testing"
	"time"

	"github.com/vfs-project/vfs/store"
)

func TestApplyPolicy(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	id := func(n byte) store.Ref { return store.Ref{n} }
	snap := func(n byte, age time.Duration, labels ...string) store.SnapshotInfo {
		return store.SnapshotInfo{ID: id(n), Created: now.Add(-age), Labels: labels}
	}
	// Snapshots 1..6 were activated on current in turn, a day apart,
	// ending 5 days ago with 6; 7 is on canary; 8 is pinned; 9 is a fresh
	// import never activated; 10 is old and never activated, and only
	// labelled, which keeps nothing.
	snaps := []store.SnapshotInfo{
		snap(1, 30*day), snap(2, 29*day), snap(3, 28*day), snap(4, 27*day), snap(5, 26*day), snap(6, 25*day),
		snap(7, 20*day), snap(8, 40*day, "release-1"), snap(9, time.Hour), snap(10, 50*day, "old-release"),
	}
	snaps[7].Pinned = true
	var log []store.LogEntry
	for n := byte(1); n <= 6; n++ {
		log = append(log, store.LogEntry{Ref: "current", From: id(n - 1), To: id(n), Time: now.Add(-time.Duration(16-n) * day)})
	}
	log[0].From = store.Ref{}
	log = append(log, store.LogEntry{Ref: "canary", To: id(7), Time: now.Add(-20 * day)})
	// Yesterday current moved from 6 back to 5 (a rollback).
	log = append(log, store.LogEntry{Ref: "current", From: id(6), To: id(5), Time: now.Add(-day)})
	refs := map[string]store.Ref{"current": id(5), "canary": id(7)}

	cases := []struct {
		name   string
		policy Policy
		keep   []byte
		why    map[byte]string
	}{
		{"refs and pins only", Policy{}, []byte{5, 7, 8}, map[byte]string{5: "ref current", 7: "ref canary", 8: "pinned"}},
		{"last 3 per ref", Policy{KeepLast: 3}, []byte{4, 5, 6, 7, 8}, map[byte]string{6: "one of the last 3 of ref current", 4: "one of the last 3 of ref current"}},
		{"within 7 days", Policy{KeepWithin: 7 * day}, []byte{5, 6, 7, 8, 9}, map[byte]string{6: "target of ref current until", 9: "created within"}},
		{"both", Policy{KeepLast: 2, KeepWithin: 2 * time.Hour}, []byte{5, 6, 7, 8, 9}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ApplyPolicy(snaps, refs, log, c.policy, now)
			var kept []byte
			for _, d := range got {
				if d.Keep != (len(d.Reasons) > 0) {
					t.Errorf("%d: keep %v with reasons %v", d.Snapshot.ID[0], d.Keep, d.Reasons)
				}
				if d.Keep {
					kept = append(kept, d.Snapshot.ID[0])
				}
				if want, ok := c.why[d.Snapshot.ID[0]]; ok && !strings.Contains(strings.Join(d.Reasons, "; "), want) {
					t.Errorf("%d: reasons %v, want one with %q", d.Snapshot.ID[0], d.Reasons, want)
				}
			}
			if string(kept) != string(c.keep) {
				t.Errorf("kept %v, want %v", kept, c.keep)
			}
		})
	}
}
