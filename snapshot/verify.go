package snapshot

import (
	"context"
	"fmt"

	"github.com/vfs-project/vfs/store"
)

// Report is what Verify found.
type Report struct {
	Snapshots int             `json:"snapshots"`
	Files     int             `json:"files"`
	Problems  []VerifyProblem `json:"problems"`
	LogBreaks []string        `json:"log_breaks"`
	// Unsigned lists, under a signing policy (vfsd --allowed-signers),
	// the snapshots a ref that needs signatures serves without a valid
	// one: a key removed or expired since their activation.
	Unsigned []UnsignedProblem `json:"unsigned"`
}

// UnsignedProblem is a served snapshot without a valid signature.
type UnsignedProblem struct {
	Snapshot store.Ref `json:"snapshot"`
	Ref      string    `json:"ref"`
	Error    string    `json:"error"`
}

// VerifyProblem is one damaged or missing object, with a path that reaches it.
type VerifyProblem struct {
	Snapshot store.Ref `json:"snapshot"`
	Path     string    `json:"path"`
	Object   store.Ref `json:"object"`
	Error    string    `json:"error"`
}

// OK reports whether nothing was found wrong.
func (r *Report) OK() bool {
	return len(r.Problems) == 0 && len(r.LogBreaks) == 0 && len(r.Unsigned) == 0
}

// VerifyProgress counts a verification's work so far.
type VerifyProgress struct {
	Snapshots      int   `json:"snapshots"`
	SnapshotsTotal int   `json:"snapshots_total"`
	Files          int   `json:"files"`
	Bytes          int64 `json:"bytes"`
}

// Verify re-hashes every object of the given snapshots (all when ids is
// empty, plus the activation log's chain). Objects shared between snapshots
// are read once. It stops when ctx ends. progress, if set, is called after
// every file.
func Verify(ctx context.Context, st *store.Store, ids []store.Ref, progress func(VerifyProgress)) (*Report, error) {
	rep := &Report{Problems: []VerifyProblem{}, LogBreaks: []string{}, Unsigned: []UnsignedProblem{}}
	if len(ids) == 0 {
		all, err := st.Snapshots()
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		for _, s := range all {
			ids = append(ids, s.ID)
		}
		breaks, err := st.VerifyLog()
		if err != nil {
			return nil, fmt.Errorf("verify log: %w", err)
		}
		rep.LogBreaks = append(rep.LogBreaks, breaks...)
	}
	for _, id := range ids {
		if _, err := st.Snapshot(id); err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
	}
	seen := map[store.Ref]bool{}
	p := VerifyProgress{SnapshotsTotal: len(ids)}
	checked := func(size uint64) {
		p.Files++
		p.Bytes += int64(size)
		if progress != nil {
			progress(p)
		}
	}
	for _, id := range ids {
		problems, err := st.VerifyContext(ctx, id, seen, checked)
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", id.Short(), err)
		}
		for _, p := range problems {
			rep.Problems = append(rep.Problems, VerifyProblem{Snapshot: id, Path: p.Path, Object: p.Ref, Error: p.Err.Error()})
		}
		rep.Snapshots++
		p.Snapshots++
	}
	rep.Files = len(seen)
	return rep, nil
}

// Remove deletes snapshot id's record, recording who removed it; it is
// refused while a ref points at it. Its objects are reclaimed by gc.
func Remove(st *store.Store, id store.Ref, who Who) error {
	return st.DeleteSnapshot(id, store.Removal{Why: "removed", UID: who.UID, User: who.User})
}
