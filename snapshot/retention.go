package snapshot

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/vfs-project/vfs/store"
)

// Policy says which snapshots to keep. Whatever a ref points at and
// whatever is pinned is always kept. Labels are names only: they move and
// go, and keep nothing.
type Policy struct {
	// KeepLast keeps, per ref, the last N distinct snapshots it pointed at.
	KeepLast int `json:"keep_last"`
	// KeepWithin keeps every snapshot that was a ref's target, or was
	// created, within this long before now. Set it at least to the grace
	// window, or carried-over assets disappear early.
	KeepWithin time.Duration `json:"keep_within"`
}

// policyJSON is Policy as JSON: keep_within as a duration string
// ("168h0m0s"), the way people write it.
type policyJSON struct {
	KeepLast   int             `json:"keep_last"`
	KeepWithin json.RawMessage `json:"keep_within"`
}

// MarshalJSON writes keep_within as a duration string.
func (p Policy) MarshalJSON() ([]byte, error) {
	d, _ := json.Marshal(p.KeepWithin.String())
	return json.Marshal(policyJSON{KeepLast: p.KeepLast, KeepWithin: d})
}

// UnmarshalJSON reads keep_within as a duration string, or as a number of
// nanoseconds (how stores written before 2026-12 hold it).
func (p *Policy) UnmarshalJSON(b []byte) error {
	var j policyJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	p.KeepLast, p.KeepWithin = j.KeepLast, 0
	if len(j.KeepWithin) == 0 || string(j.KeepWithin) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(j.KeepWithin, &s) == nil {
		d, err := ParseDuration(s)
		if err != nil {
			return fmt.Errorf("keep_within: %v: %w", err, store.ErrInvalid)
		}
		p.KeepWithin = d
		return nil
	}
	var ns int64
	if err := json.Unmarshal(j.KeepWithin, &ns); err != nil {
		return fmt.Errorf("keep_within: a duration such as \"168h\": %w", store.ErrInvalid)
	}
	p.KeepWithin = time.Duration(ns)
	return nil
}

// DefaultPolicy is used until a store has its own.
var DefaultPolicy = Policy{KeepLast: 10, KeepWithin: 7 * 24 * time.Hour}

// RetentionSetting is the store setting that holds a store's Policy.
const RetentionSetting = "retention"

// Decision is the policy's verdict on one snapshot, with every reason it
// is kept (none when dropped).
type Decision struct {
	Snapshot store.SnapshotInfo `json:"snapshot"`
	Keep     bool               `json:"keep"`
	Reasons  []string           `json:"reasons"`
}

// ApplyPolicy decides, for each snapshot, whether p keeps it. It is a pure
// function of its arguments; deleting is a separate step (Prune).
func ApplyPolicy(snaps []store.SnapshotInfo, refs map[string]store.Ref, log []store.LogEntry, p Policy, now time.Time) []Decision {
	reasons := map[store.Ref][]string{}
	add := func(id store.Ref, why string) { reasons[id] = append(reasons[id], why) }
	for _, name := range sortedNames(refs) {
		add(refs[name], "ref "+name)
	}
	for _, s := range snaps {
		if s.Pinned {
			add(s.ID, "pinned")
		}
		if p.KeepWithin > 0 && now.Sub(s.Created) < p.KeepWithin {
			add(s.ID, fmt.Sprintf("created within %s", FormatDuration(p.KeepWithin)))
		}
	}
	lastPerRef := map[string]int{}
	seen := map[string]map[store.Ref]bool{}
	for i := len(log) - 1; i >= 0; i-- {
		e := log[i]
		if seen[e.Ref] == nil {
			seen[e.Ref] = map[store.Ref]bool{}
		}
		// e.To became active at e.Time; e.From stopped being active then.
		for _, id := range []store.Ref{e.To, e.From} {
			if id.IsZero() || seen[e.Ref][id] {
				continue
			}
			seen[e.Ref][id] = true
			lastPerRef[e.Ref]++
			if lastPerRef[e.Ref] <= p.KeepLast {
				add(id, fmt.Sprintf("one of the last %d of ref %s", p.KeepLast, e.Ref))
			}
		}
		if !e.From.IsZero() && p.KeepWithin > 0 && now.Sub(e.Time) < p.KeepWithin {
			add(e.From, fmt.Sprintf("target of ref %s until %s, within %s", e.Ref, e.Time.UTC().Format(time.RFC3339), FormatDuration(p.KeepWithin)))
		}
	}
	out := make([]Decision, 0, len(snaps))
	for _, s := range snaps {
		r := dedupe(reasons[s.ID])
		out = append(out, Decision{Snapshot: s, Keep: len(r) > 0, Reasons: r})
	}
	return out
}

func sortedNames(m map[string]store.Ref) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func dedupe(list []string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Prune applies p to the store's snapshots and, unless dryRun, removes
// those it drops, calling removed for each. It returns every decision.
func Prune(st *store.Store, p Policy, dryRun bool, now time.Time, who Who, removed func(store.Ref)) ([]Decision, error) {
	snaps, err := st.Snapshots()
	if err != nil {
		return nil, err
	}
	refs, err := st.NamedRefs()
	if err != nil {
		return nil, err
	}
	log, err := st.Log()
	if err != nil {
		return nil, err
	}
	decisions := ApplyPolicy(snaps, refs, log, p, now)
	if dryRun {
		return decisions, nil
	}
	for _, d := range decisions {
		if d.Keep {
			continue
		}
		if err := st.DeleteSnapshot(d.Snapshot.ID, store.Removal{Why: "pruned", UID: who.UID, User: who.User}); err != nil {
			return decisions, fmt.Errorf("prune: %w", err)
		}
		if removed != nil {
			removed(d.Snapshot.ID)
		}
	}
	return decisions, nil
}
