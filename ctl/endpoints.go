package ctl

import (
	"context"
	"fmt"
	"reflect"

	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// The API, one entry per operation, in the order docs/api.md lists them.
// Each handler logs what changes the store, with the caller's uid.

// Request types. Fields tagged path or query come from the URL.
type (
	idParam struct {
		ID store.Ref `path:"id" json:"-"`
	}
	refParam struct {
		Ref store.Ref `path:"ref" json:"-"`
	}
	labelParam struct {
		Name string `path:"name" json:"-"`
	}
	activateRequest struct {
		Ref    string    `path:"ref" json:"-"`
		ID     store.Ref `json:"id"`
		Reason string    `json:"reason"`
		Verify bool      `json:"verify"` // re-hash every chunk first
		Local  bool      `json:"local"`  // move a ref the cluster manages on this node alone
	}
	removeRefRequest struct {
		Ref    string `path:"ref" json:"-"`
		Reason string `json:"reason"`
		Local  bool   `json:"local"` // a ref the cluster manages, on this node alone
	}
	rollbackRequest struct {
		Ref    string `path:"ref" json:"-"`
		Reason string `json:"reason"`
		Local  bool   `json:"local"` // move a ref the cluster manages on this node alone
	}
	labelRequest struct {
		ID    store.Ref `path:"id" json:"-"`
		Label string    `json:"label"`
		Move  bool      `json:"move"` // take the label from another snapshot
	}
	labelMoved struct {
		Label string    `json:"label"`
		From  store.Ref `json:"from"` // "" when it named no other snapshot
	}
	pinRequest struct {
		ID     store.Ref `path:"id" json:"-"`
		Pinned bool      `json:"pinned"`
	}
	verifyRequest struct {
		IDs []store.Ref `json:"ids"` // none: every snapshot and the log's chain
	}
	pruneRequest struct {
		Policy snapshot.Policy `json:"policy"`
		DryRun bool            `json:"dry_run"`
		Force  bool            `json:"force"` // prune with keep_within shorter than the daemon's grace
	}
	purgeRequest struct {
		Target string `json:"target"` // a content hash, or a path in some snapshot
		Reason string `json:"reason"`
	}
	labelAnswer struct {
		ID store.Ref `json:"id"`
	}
	// Version names the API and the daemon's build.
	Version struct {
		API     string `json:"api"`
		Version string `json:"version"`
	}
)

// check refuses an activation that names no snapshot (a body of {} or
// null once read as the zero id, and failed as "damaged or missing").
func (r activateRequest) check() error {
	if r.ID.IsZero() {
		return fmt.Errorf("activate: the body names no snapshot (id): %w", store.ErrInvalid)
	}
	return store.CheckText("reason", r.Reason)
}

// check refuses a reason over the store's bound before any work.
func (r rollbackRequest) check() error { return store.CheckText("reason", r.Reason) }

// check refuses a reason over the store's bound before any work.
func (r purgeRequest) check() error { return store.CheckText("reason", r.Reason) }

// APIVersion is the path prefix of every route.
const APIVersion = "v1"

// BuildVersion is the daemon's version, for GET /v1/version; vfsd sets it.
var BuildVersion = "devel"

var (
	opVersion = jsonOp(endpoint{Name: "Version", Method: "GET", Path: "/v1/version", Timeout: quick, Peer: true,
		Doc: "The API version and the daemon's build."},
		func(ctx context.Context, s *session, _ none) (Version, error) {
			return Version{API: APIVersion, Version: BuildVersion}, nil
		})
	opStatus = jsonOp(endpoint{Name: "Status", Method: "GET", Path: "/v1/status", Timeout: quick,
		Doc: "The store, the mount, the daemon's pid, how many snapshots, and where each ref points."},
		func(ctx context.Context, s *session, _ none) (Status, error) { return s.local.Status(ctx) })
	opSnapshots = jsonOp(endpoint{Name: "Snapshots", Method: "GET", Path: "/v1/snapshots", Timeout: quick,
		Doc: "Every snapshot, oldest first."},
		func(ctx context.Context, s *session, _ none) ([]store.SnapshotInfo, error) {
			all, err := s.local.Snapshots()
			if all == nil {
				all = []store.SnapshotInfo{}
			}
			return all, err
		})
	opSnapshot = jsonOp(endpoint{Name: "Snapshot", Method: "GET", Path: "/v1/snapshots/{id}", Timeout: quick, Peer: true,
		Doc: "One snapshot by its full id."},
		func(ctx context.Context, s *session, r idParam) (store.SnapshotInfo, error) {
			return s.local.Snapshot(r.ID)
		})
	opRemove = jsonOp(endpoint{Name: "Remove a snapshot", Method: "DELETE", Path: "/v1/snapshots/{id}", Timeout: quick,
		Doc: "Deletes a snapshot's record and its labels (refused while a ref points at it); gc then frees its objects."},
		func(ctx context.Context, s *session, r idParam) (none, error) {
			err := s.local.RemoveSnapshot(ctx, r.ID)
			if err == nil {
				s.log.Info("removed snapshot", "id", r.ID.Short(), "uid", s.who.UID)
			}
			return none{}, err
		})
	opSetLabel = jsonOp(endpoint{Name: "Label a snapshot", Method: "POST", Path: "/v1/snapshots/{id}/labels", Timeout: quick,
		Doc: "Gives a snapshot a label. A label names one snapshot: one that names another is label_taken, unless move takes it from there."},
		func(ctx context.Context, s *session, r labelRequest) (labelMoved, error) {
			from, err := s.local.SetLabel(ctx, r.ID, r.Label, r.Move)
			if err == nil {
				s.log.Info("labelled snapshot", "id", r.ID.Short(), "label", r.Label, "from", shortOrNone(from), "uid", s.who.UID)
			}
			return labelMoved{Label: r.Label, From: from}, err
		})
	opRemoveLabel = jsonOp(endpoint{Name: "Remove a label", Method: "DELETE", Path: "/v1/labels/{name}", Timeout: quick,
		Doc: "Deletes a label; the snapshot it named stays."},
		func(ctx context.Context, s *session, r labelParam) (labelMoved, error) {
			from, err := s.local.RemoveLabel(ctx, r.Name)
			if err == nil {
				s.log.Info("removed label", "label", r.Name, "from", from.Short(), "uid", s.who.UID)
			}
			return labelMoved{Label: r.Name, From: from}, err
		})
	opSetPinned = jsonOp(endpoint{Name: "Pin a snapshot", Method: "PUT", Path: "/v1/snapshots/{id}/pinned", Timeout: quick,
		Doc: "Pins a snapshot (retention keeps it and removal is refused) or, with false, unpins it."},
		func(ctx context.Context, s *session, r pinRequest) (none, error) {
			err := s.local.SetPinned(ctx, r.ID, r.Pinned)
			if err == nil {
				s.log.Info("pinned snapshot", "id", r.ID.Short(), "pinned", r.Pinned, "uid", s.who.UID)
			}
			return none{}, err
		})
	opLabel = jsonOp(endpoint{Name: "Label", Method: "GET", Path: "/v1/labels/{name}", Timeout: quick,
		Doc: "The snapshot a label names."},
		func(ctx context.Context, s *session, r labelParam) (labelAnswer, error) {
			id, err := s.local.Label(r.Name)
			return labelAnswer{ID: id}, err
		})
	opRefs = jsonOp(endpoint{Name: "Refs", Method: "GET", Path: "/v1/refs", Timeout: quick,
		Doc: "Where each ref (current, canary, ...) points."},
		func(ctx context.Context, s *session, _ none) (map[string]store.Ref, error) {
			return s.local.NamedRefs()
		})
	opLog = jsonOp(endpoint{Name: "Log", Method: "GET", Path: "/v1/log", Timeout: quick,
		Doc: "The activation log, oldest first: who moved which ref from where to where, when and why."},
		func(ctx context.Context, s *session, _ none) ([]store.LogEntry, error) {
			l, err := s.local.Log()
			if l == nil {
				l = []store.LogEntry{}
			}
			return l, err
		})
	opActivate = jsonOp(endpoint{Name: "Activate", Method: "POST", Path: "/v1/refs/{ref}/activate", Timeout: long,
		Doc: "Points a ref at a snapshot (O(1)); with verify, every chunk is re-hashed first. Unchanged is true when the ref already pointed there."},
		func(ctx context.Context, s *session, r activateRequest) (Activation, error) {
			if err := s.alone("activate", r.Ref, r.Local); err != nil {
				return Activation{}, err
			}
			a, err := s.local.Activate(ctx, r.Ref, r.ID, r.Reason, r.Verify)
			if err == nil && !a.Unchanged {
				s.log.Info("activated", "ref", a.Ref, "from", shortOrNone(a.From), "to", a.To.Short(), "uid", a.UID, "pid", a.PID, "reason", a.Reason)
			}
			return a, err
		})
	opRollback = jsonOp(endpoint{Name: "Rollback", Method: "POST", Path: "/v1/refs/{ref}/rollback", Timeout: quick,
		Doc: "Points a ref back at the last different snapshot it served."},
		func(ctx context.Context, s *session, r rollbackRequest) (Activation, error) {
			if err := s.alone("rollback", r.Ref, r.Local); err != nil {
				return Activation{}, err
			}
			a, err := s.local.Rollback(ctx, r.Ref, r.Reason)
			if err == nil {
				s.log.Info("rolled back", "ref", a.Ref, "from", shortOrNone(a.From), "to", a.To.Short(), "uid", a.UID, "pid", a.PID)
			}
			return a, err
		})
	opRemoveRef = jsonOp(endpoint{Name: "Remove a ref", Method: "DELETE", Path: "/v1/refs/{ref}", Timeout: quick,
		Doc: "Deletes a ref (not current), logged like an activation to nothing: /refs/<name>/ goes, and what it served stays until retention lets it go."},
		func(ctx context.Context, s *session, r removeRefRequest) (store.LogEntry, error) {
			if err := s.alone("remove ref", r.Ref, r.Local); err != nil {
				return store.LogEntry{}, err
			}
			e, err := s.local.RemoveRef(ctx, r.Ref, r.Reason)
			if err == nil {
				s.log.Info("ref removed", "ref", r.Ref, "was", shortOrNone(e.From), "uid", e.UID, "pid", e.PID, "reason", e.Reason)
			}
			return e, err
		})
	opTree = jsonOp(endpoint{Name: "Tree", Method: "GET", Path: "/v1/trees/{ref}", Timeout: quick,
		Doc: "One directory of a snapshot, by its hash (a snapshot's id is its root tree's)."},
		func(ctx context.Context, s *session, r refParam) (*store.Tree, error) { return s.local.Tree(r.Ref) })
	opFile = jsonOp(endpoint{Name: "File", Method: "GET", Path: "/v1/files/{ref}", Timeout: quick,
		Doc: "A file content's record: size, mtime (its validator) and chunks."},
		func(ctx context.Context, s *session, r refParam) (*store.FileRecord, error) {
			return s.local.File(r.Ref)
		})
	opContent = rawOp(endpoint{Name: "File content", Method: "GET", Path: "/v1/files/{ref}/content", Timeout: long,
		RespBody: "application/octet-stream: the bytes, each chunk verified before it is sent; a Range header (one range) answers 206 with that part",
		Doc:      "A file's bytes by content hash."},
		reflect.TypeFor[refParam](), serveContent)
	opVerify = streamingOp(endpoint{Name: "Verify", Method: "POST", Path: "/v1/verify", Timeout: long,
		Doc: "Re-hashes every object of the given snapshots (none: all, and the log's chain). Problems are in the report; the request fails only if the store cannot be read."},
		func(ctx context.Context, s *session, r verifyRequest, progress func(snapshot.VerifyProgress)) (*snapshot.Report, error) {
			return s.local.VerifySnapshots(ctx, r.IDs, progress)
		})
	opClasses = jsonOp(endpoint{Name: "Asset classes", Method: "GET", Path: "/v1/settings/classes", Timeout: quick,
		Doc: "The patterns that decide which files are assets (docs/skew.md)."},
		func(ctx context.Context, s *session, _ none) (snapshot.Classes, error) { return s.local.Classes(ctx) })
	opSetClasses = jsonOp(endpoint{Name: "Set asset classes", Method: "PUT", Path: "/v1/settings/classes", Timeout: quick,
		Doc: "Replaces the asset patterns; the mount uses them at once."},
		func(ctx context.Context, s *session, c snapshot.Classes) (none, error) {
			err := s.local.SetClasses(ctx, c)
			if err == nil {
				s.log.Info("classes changed", "include", c.Include, "exclude", c.Exclude, "uid", s.who.UID)
			}
			return none{}, err
		})
	opPolicy = jsonOp(endpoint{Name: "Retention policy", Method: "GET", Path: "/v1/settings/retention", Timeout: quick,
		Doc: "The retention policy prune applies by default."},
		func(ctx context.Context, s *session, _ none) (snapshot.Policy, error) { return s.local.Policy(ctx) })
	opSetPolicy = jsonOp(endpoint{Name: "Set retention policy", Method: "PUT", Path: "/v1/settings/retention", Timeout: quick,
		Doc: "Replaces the default retention policy."},
		func(ctx context.Context, s *session, p snapshot.Policy) (none, error) {
			err := s.local.SetPolicy(ctx, p)
			if err == nil {
				s.log.Info("retention changed", "keep_last", p.KeepLast, "keep_within", p.KeepWithin, "uid", s.who.UID)
			}
			return none{}, err
		})
	opPrune = jsonOp(endpoint{Name: "Prune", Method: "POST", Path: "/v1/prune", Timeout: long,
		Doc: "Applies a retention policy: every snapshot with the reasons it is kept; unless dry_run, removes the others."},
		func(ctx context.Context, s *session, r pruneRequest) ([]snapshot.Decision, error) {
			d, err := s.local.Prune(ctx, r.Policy, r.DryRun, r.Force)
			if r.Force && s.local.Grace > r.Policy.KeepWithin {
				s.log.Warn("prune forced with keep_within shorter than the grace", "keep_within", r.Policy.KeepWithin, "grace", s.local.Grace, "uid", s.who.UID)
			}
			if !r.DryRun {
				for _, x := range d {
					if !x.Keep {
						s.log.Info("pruned snapshot", "id", x.Snapshot.ID.Short(), "uid", s.who.UID)
					}
				}
			}
			return d, err
		})
	opGC = streamingOp(endpoint{Name: "Collect garbage", Method: "POST", Path: "/v1/gc", Timeout: long,
		Doc: "Deletes objects no snapshot, open import or open file needs, and gives the disk space back."},
		func(ctx context.Context, s *session, _ none, progress func(GCProgress)) (store.GCStats, error) {
			st, err := s.local.CollectGarbage(ctx, progress)
			if err == nil {
				s.log.Info("gc done", "chunks", st.Chunks, "files", st.Files, "trees", st.Trees, "bytes_before", st.BytesBefore, "bytes_after", st.BytesAfter, "uid", s.who.UID)
			}
			return st, err
		})
	opPurge = jsonOp(endpoint{Name: "Purge", Method: "POST", Path: "/v1/purge", Timeout: long,
		Doc: "Withdraws content from /a/ and from asset carry-over (snapshots that contain it keep it)."},
		func(ctx context.Context, s *session, r purgeRequest) ([]store.PurgeRecord, error) {
			recs, err := s.local.PurgeContent(ctx, r.Target, r.Reason)
			for _, p := range recs {
				s.log.Warn("purged content", "ref", p.Ref.Short(), "path", p.Path, "uid", p.UID, "pid", p.PID, "reason", p.Reason)
			}
			return recs, err
		})
	opBackup = rawOp(endpoint{Name: "Backup", Method: "GET", Path: "/v1/backup", Timeout: long,
		RespBody: "application/octet-stream: a Badger backup of the whole store (vfsctl restore reads it); a failure after the first byte is in the trailer Vfs-Error, as JSON",
		Doc:      "Streams a backup of the store while it serves."},
		nil, serveBackup)
)

func shortOrNone(r store.Ref) string {
	if r.IsZero() {
		return "none"
	}
	return r.Short()
}
