package snapshot

import (
	"fmt"

	"github.com/vfs-project/vfs/store"
)

// Report is what Verify found.
type Report struct {
	Snapshots int             `json:"snapshots"`
	Files     int             `json:"files"`
	Problems  []VerifyProblem `json:"problems"`
	LogBreaks []string        `json:"log_breaks"`
}

// VerifyProblem is one damaged or missing object, with a path that reaches it.
type VerifyProblem struct {
	Snapshot store.Ref `json:"snapshot"`
	Path     string    `json:"path"`
	Object   store.Ref `json:"object"`
	Error    string    `json:"error"`
}

// OK reports whether nothing was found wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 && len(r.LogBreaks) == 0 }

// Verify re-hashes every object of the given snapshots (all when ids is
// empty, plus the activation log's chain). Objects shared between snapshots
// are read once.
func Verify(st *store.Store, ids []store.Ref) (*Report, error) {
	rep := &Report{Problems: []VerifyProblem{}, LogBreaks: []string{}}
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
	seen := map[store.Ref]bool{}
	for _, id := range ids {
		problems, err := st.Verify(id, seen)
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", id.Short(), err)
		}
		for _, p := range problems {
			rep.Problems = append(rep.Problems, VerifyProblem{Snapshot: id, Path: p.Path, Object: p.Ref, Error: p.Err.Error()})
		}
		rep.Snapshots++
	}
	rep.Files = len(seen)
	return rep, nil
}

// Remove deletes snapshot id's record; it is refused while a ref points at
// it. Its objects are reclaimed by gc.
func Remove(st *store.Store, id store.Ref) error {
	return st.DeleteSnapshot(id)
}
