package ctl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"time"

	"github.com/vfs-project/vfs/store"
)

// Cluster is the fleet this vfsd belongs to (cluster.Node), if any: a
// ref switched on every member together (docs/cluster.md).
type Cluster interface {
	// Activate switches ref; with abort, a release not every member
	// staged within wait is withdrawn instead of left desired.
	Activate(ctx context.Context, ref string, id store.Ref, reason string, wait time.Duration, abort bool) (ClusterActivation, error)
	Status(ctx context.Context) (ClusterStatus, error)
	// Evict takes node out of the cluster until Admit: its membership
	// ends at once, it is not counted for staging, and it may not join
	// again (it stays unready and keeps serving what it has).
	Evict(ctx context.Context, node, reason string) error
	Admit(ctx context.Context, node string) error
	// Ready: a member whose etcd session is live and that serves every
	// committed generation; otherwise why not.
	Ready(ctx context.Context) (bool, string)
	// History is ref's committed generations, oldest first, with the
	// first break in their hash chain, if any.
	History(ctx context.Context, ref string) (ClusterHistory, error)
	// Contact says whether this node hears from etcd, from its own
	// state alone: other members ask it before they fence themselves.
	Contact() ClusterContact
}

// HistoryEntry is one committed generation of a ref across the cluster:
// written once, in the commit's transaction, and chained by hash.
type HistoryEntry struct {
	Gen      uint64    `json:"gen"`
	Snapshot store.Ref `json:"snapshot"`
	Prev     store.Ref `json:"prev"` // the snapshot committed before
	Node     string    `json:"node"` // the origin
	Reason   string    `json:"reason"`
	Time     time.Time `json:"time"`
	PrevHash string    `json:"prev_hash"` // the hash of the entry before ("" for the first)
	Hash     string    `json:"hash"`      // SHA-256 of this entry's JSON with hash empty
}

// ClusterHistory is a ref's history as read; Problem names the first
// break in its chain ("" when whole), and Entries stop before it.
type ClusterHistory struct {
	Ref     string         `json:"ref"`
	Entries []HistoryEntry `json:"entries"`
	Problem string         `json:"problem"`
}

// ClusterContact is what a member says of its link to etcd.
type ClusterContact struct {
	Node string `json:"node"`
	// CutOff: etcd has not answered this node for 2/3 of its lease.
	CutOff bool `json:"cut_off"`
	// Quiet is how long since etcd last answered ("1.5s").
	Quiet string `json:"quiet"`
}

// ClusterActivation is a cluster activation's outcome.
type ClusterActivation struct {
	Ref      string    `json:"ref"`
	Gen      uint64    `json:"gen"`
	Snapshot store.Ref `json:"snapshot"`
	Members  []string  `json:"members"`
	// Committed: every member staged the snapshot and the flip was
	// committed.
	Committed bool `json:"committed"`
	// Missing are the members that had not staged (before the flip) or
	// applied (after it) when the wait ended; none when all serve it.
	Missing []string `json:"missing"`
	// Phases says where the time went.
	Phases Phases `json:"phases"`
}

// Phases are the durations of a cluster activation's phases as the origin
// saw them ("1.5s"; empty for a phase not reached): stage, from desired
// written to every member staged; decide, the guarded commit; apply, from
// the commit to every member applied. FlipSpread is the time between the
// first and the last member's local activation, by each member's clock
// (so it includes their clocks' offsets).
type Phases struct {
	Stage      string `json:"stage"`
	Decide     string `json:"decide"`
	Apply      string `json:"apply"`
	FlipSpread string `json:"flip_spread"`
}

// ClusterStatus is what etcd says of the cluster, as one member reads it.
type ClusterStatus struct {
	Cluster   string                       `json:"cluster"`
	Node      string                       `json:"node"`
	Members   map[string]string            `json:"members"`   // node -> peer address
	Desired   map[string]uint64            `json:"desired"`   // ref -> generation
	Committed map[string]uint64            `json:"committed"` // ref -> generation
	Staged    map[string]map[string]uint64 `json:"staged"`    // node -> ref -> generation
	Applied   map[string]map[string]uint64 `json:"applied"`   // node -> ref -> generation
	Evicted   map[string]Eviction          `json:"evicted"`   // node -> why it may not join
	Error     string                       `json:"error"`     // this member's last reconcile failure
}

// Eviction says who took a node out of the cluster, when and why.
type Eviction struct {
	By     string    `json:"by"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason"`
}

// ErrConflict: another activation of the ref came first.
var ErrConflict = errors.New("another activation of the ref came first")

// ErrNoCluster: the daemon is not in a cluster (vfsd --cluster).
var ErrNoCluster = errors.New("vfsd is in no cluster (vfsd --cluster)")

type clusterActivateRequest struct {
	Ref    string    `path:"ref" json:"-"`
	ID     store.Ref `json:"id"`
	Reason string    `json:"reason"`
	Wait   string    `json:"wait"`  // a duration; 1m when empty
	Abort  bool      `json:"abort"` // withdraw the release if not every member staged it within wait
}

var (
	opClusterActivate = jsonOp(endpoint{Name: "Activate across the cluster", Method: "POST", Path: "/v1/cluster/refs/{ref}/activate", Timeout: long,
		Doc: "Switches ref on every member together: the snapshot (held by this node) becomes the next generation, every member pulls and stages it, this node commits the flip, every member applies it. Answers when all applied or the wait ended, naming the members that did not."},
		func(ctx context.Context, s *session, r clusterActivateRequest) (ClusterActivation, error) {
			if s.local.Cluster == nil {
				return ClusterActivation{}, fmt.Errorf("cluster activate: %w", ErrNoCluster)
			}
			wait := time.Minute
			if r.Wait != "" {
				d, err := time.ParseDuration(r.Wait)
				if err != nil || d <= 0 {
					return ClusterActivation{}, fmt.Errorf("wait %q: a duration such as 30s: %w", r.Wait, store.ErrInvalid)
				}
				wait = d
			}
			a, err := s.local.Cluster.Activate(ctx, r.Ref, r.ID, r.Reason, wait, r.Abort)
			if err == nil {
				s.log.Info("cluster activation", "ref", r.Ref, "gen", a.Gen, "to", r.ID.Short(), "committed", a.Committed, "missing", a.Missing, "uid", s.who.UID)
			}
			return a, err
		})
	opReady = rawOp(endpoint{Name: "Ready", Method: "GET", Path: "/v1/ready", Timeout: quick, Peer: true,
		Resp: reflect.TypeFor[readiness](),
		Doc:  "For load balancers: 200 while this node should get traffic (outside a cluster: while vfsd serves; in one: a member whose etcd session is live and that serves every committed release), else 503 with the reason."},
		nil, serveReady)
	opClusterHistory = jsonOp(endpoint{Name: "Cluster history", Method: "GET", Path: "/v1/cluster/refs/{ref}/history", Timeout: quick,
		Doc: "Every committed generation of ref, oldest first, checked as a hash chain: problem names the first entry edited, removed or inserted since it was written (the entries stop before it)."},
		func(ctx context.Context, s *session, r clusterHistoryRequest) (ClusterHistory, error) {
			if s.local.Cluster == nil {
				return ClusterHistory{}, fmt.Errorf("cluster history: %w", ErrNoCluster)
			}
			return s.local.Cluster.History(ctx, r.Ref)
		})
	opContact = jsonOp(endpoint{Name: "Etcd contact", Method: "GET", Path: "/v1/cluster/contact", Timeout: quick, Peer: true,
		Doc: "Whether this member hears from etcd, from its own state alone. A member cut off from etcd asks every other member before it fences itself: if none hears from etcd either, nobody can switch a release, and it stays ready."},
		func(ctx context.Context, s *session, _ none) (ClusterContact, error) {
			if s.local.Cluster == nil {
				return ClusterContact{}, fmt.Errorf("cluster contact: %w", ErrNoCluster)
			}
			return s.local.Cluster.Contact(), nil
		})
	opClusterStatus = jsonOp(endpoint{Name: "Cluster status", Method: "GET", Path: "/v1/cluster/status", Timeout: quick,
		Doc: "Members, and per ref the desired and committed generation and what each member staged and applied."},
		func(ctx context.Context, s *session, _ none) (ClusterStatus, error) {
			if s.local.Cluster == nil {
				return ClusterStatus{}, fmt.Errorf("cluster status: %w", ErrNoCluster)
			}
			return s.local.Cluster.Status(ctx)
		})
)

type clusterHistoryRequest struct {
	Ref string `path:"ref" json:"-"`
}

type clusterEvictRequest struct {
	Node   string `path:"node" json:"-"`
	Reason string `json:"reason"`
}

type clusterAdmitRequest struct {
	Node string `path:"node" json:"-"`
}

var (
	opClusterEvict = jsonOp(endpoint{Name: "Evict a member", Method: "POST", Path: "/v1/cluster/members/{node}/evict", Timeout: quick,
		Doc: "Takes node out of the cluster until it is admitted again: its membership ends at once (its lease is revoked), a release no longer waits for it, and it may not join again; it answers 503 on /v1/ready and keeps serving what it has. For a node that holds up releases."},
		func(ctx context.Context, s *session, r clusterEvictRequest) (none, error) {
			if s.local.Cluster == nil {
				return none{}, fmt.Errorf("cluster evict: %w", ErrNoCluster)
			}
			err := s.local.Cluster.Evict(ctx, r.Node, r.Reason)
			if err == nil {
				s.log.Warn("cluster: member evicted", "node", r.Node, "reason", r.Reason, "uid", s.who.UID)
			}
			return none{}, err
		})
	opClusterAdmit = jsonOp(endpoint{Name: "Admit an evicted node", Method: "DELETE", Path: "/v1/cluster/evicted/{node}", Timeout: quick,
		Doc: "Lets an evicted node join again; it then catches up by itself and becomes ready."},
		func(ctx context.Context, s *session, r clusterAdmitRequest) (none, error) {
			if s.local.Cluster == nil {
				return none{}, fmt.Errorf("cluster admit: %w", ErrNoCluster)
			}
			err := s.local.Cluster.Admit(ctx, r.Node)
			if err == nil {
				s.log.Info("cluster: node admitted", "node", r.Node, "uid", s.who.UID)
			}
			return none{}, err
		})
)

// ClusterEvict asks vfsd to take node out of its cluster.
func (c *Client) ClusterEvict(ctx context.Context, node, reason string) error {
	_, err := opClusterEvict.call(ctx, c, clusterEvictRequest{Node: node, Reason: reason})
	return err
}

// ClusterAdmit asks vfsd to let an evicted node join again.
func (c *Client) ClusterAdmit(ctx context.Context, node string) error {
	_, err := opClusterAdmit.call(ctx, c, clusterAdmitRequest{Node: node})
	return err
}

// ClusterActivate asks vfsd to switch ref on every member of its cluster.
func (c *Client) ClusterActivate(ctx context.Context, ref string, id store.Ref, reason string, wait time.Duration, abort bool) (ClusterActivation, error) {
	return opClusterActivate.call(ctx, c, clusterActivateRequest{Ref: ref, ID: id, Reason: reason, Wait: wait.String(), Abort: abort})
}

// ClusterHistory asks vfsd for ref's history across its cluster.
func (c *Client) ClusterHistory(ctx context.Context, ref string) (ClusterHistory, error) {
	return opClusterHistory.call(ctx, c, clusterHistoryRequest{Ref: ref})
}

// ClusterContact asks a peer whether it hears from etcd.
func (c *Client) ClusterContact(ctx context.Context) (ClusterContact, error) {
	return opContact.call(ctx, c, none{})
}

// ClusterStatus asks vfsd what its cluster looks like.
func (c *Client) ClusterStatus(ctx context.Context) (ClusterStatus, error) {
	return opClusterStatus.call(ctx, c, none{})
}

type readiness struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason"`
}

func serveReady(ctx context.Context, s *session, w http.ResponseWriter, r *http.Request) error {
	ready, why := true, ""
	if s.local.Cluster != nil {
		ready, why = s.local.Cluster.Ready(ctx)
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, readiness{Ready: ready, Reason: why})
	return nil
}
