package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"time"

	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// Cluster is the fleet this vfsd belongs to (cluster.Node), if any: a
// ref switched on every member together (docs/cluster.md).
type Cluster interface {
	// Activate switches r.Ref; with r.Abort, a release not every member
	// staged within r.Wait is withdrawn instead of left desired.
	Activate(ctx context.Context, r ClusterRelease) (ClusterActivation, error)
	// Manages says whether the cluster manages ref: it then moves on this
	// node alone only when asked with local (a logged exception, after
	// which the node is not ready until the next release).
	Manages(ref string) bool
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
	// RefErrors is this node's last failure to stage or apply, per ref
	// (a refused unsigned release, a pull that failed): members show
	// theirs in each other's status.
	RefErrors() map[string]string
}

// ClusterRelease is what a cluster activation asks for.
type ClusterRelease struct {
	Ref    string
	ID     store.Ref
	Reason string
	// Who asked: recorded in etcd and in every member's activation log.
	Who   snapshot.Who
	Wait  time.Duration
	Abort bool
}

// HistoryEntry is one committed generation of a ref across the cluster,
// as the API shows it (cluster.HistoryEntry is how it is stored).
type HistoryEntry struct {
	Gen      uint64    `json:"gen"`
	Snapshot store.Ref `json:"snapshot"`
	Prev     store.Ref `json:"prev"` // the snapshot committed before
	Node     string    `json:"node"` // the origin
	Reason   string    `json:"reason"`
	Time     time.Time `json:"time"`
	PrevHash string    `json:"prev_hash"` // the hash of the entry before ("" for the first)
	Hash     string    `json:"hash"`      // SHA-256 of the stored entry's JSON with hash empty
	UID      int       `json:"uid"`       // the operator who asked
	User     string    `json:"user"`
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
	// Left are the members that staged the release before this one and
	// are members no longer (not evicted): they may still serve it.
	Left []string `json:"left"`
	// HookFailures are the cluster hooks (vfsd --cluster-hook) that
	// failed, run once every member applied; the release stands.
	HookFailures []string `json:"hook_failures"`
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

// ClusterStatus is what etcd says of the cluster, as one member reads it,
// with what each member says of itself.
type ClusterStatus struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	// Etcd is empty while etcd answers; else "unreachable since T ...",
	// and the rest is the state this node last read (AsOf).
	Etcd      string                       `json:"etcd"`
	AsOf      time.Time                    `json:"as_of"`
	Members   map[string]string            `json:"members"`   // node -> peer address
	Desired   map[string]uint64            `json:"desired"`   // ref -> generation
	Committed map[string]uint64            `json:"committed"` // ref -> generation
	Staged    map[string]map[string]uint64 `json:"staged"`    // node -> ref -> generation
	Applied   map[string]map[string]uint64 `json:"applied"`   // node -> ref -> generation
	Evicted   map[string]Eviction          `json:"evicted"`   // node -> why it may not join
	Refs      map[string]ClusterRef        `json:"refs"`      // ref -> its releases
	Nodes     map[string]ClusterMember     `json:"nodes"`     // member -> what it says of itself
	// Problems are keys under the cluster's prefix that cannot be read
	// and concern no one ref.
	Problems []string `json:"problems"`
	Error    string   `json:"error"` // this member's last failures, per ref
}

// ClusterRef is one ref's releases.
type ClusterRef struct {
	Desired   store.Ref `json:"desired"`   // zero: none, or a withdrawal of a first release
	Withdrawn bool      `json:"withdrawn"` // desired is an abort's withdrawal
	DesiredBy string    `json:"desired_by"`
	Committed store.Ref `json:"committed"`
	Reason    string    `json:"reason"` // the committed release's
	// Problem: a value of this ref in etcd cannot be read (the ref
	// keeps what it serves).
	Problem string `json:"problem"`
	// Behind: etcd shows less than this node applied (a restore).
	Behind string `json:"behind"`
}

// ClusterMember is a member as it reports itself.
type ClusterMember struct {
	Peer   string                      `json:"peer"`
	Ready  bool                        `json:"ready"`
	Reason string                      `json:"reason"` // why not ready
	Refs   map[string]ClusterMemberRef `json:"refs"`
}

// ClusterMemberRef is what a member staged, applied and serves of a ref.
type ClusterMemberRef struct {
	Staged  store.Ref `json:"staged"`
	Applied store.Ref `json:"applied"`
	Serves  store.Ref `json:"serves"`
	Drift   bool      `json:"drift"` // it serves another snapshot than committed
	// Error is the member's last failure to stage or apply the ref (it
	// refused an unsigned release, say), from its own answer.
	Error string `json:"error,omitempty"`
}

// Eviction says who took a node out of the cluster, when and why.
type Eviction struct {
	By     string    `json:"by"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason"`
}

// ErrConflict: another activation of the ref came first.
var ErrConflict = errors.New("another activation of the ref came first")

// ErrEtcd: etcd did not answer, or refused.
var ErrEtcd = errors.New("etcd unreachable")

// ErrManaged: a ref the cluster manages was to move on this node alone.
var ErrManaged = errors.New("the cluster manages this ref")

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
			a, err := s.local.Cluster.Activate(ctx, ClusterRelease{Ref: r.Ref, ID: r.ID, Reason: r.Reason, Who: s.who, Wait: wait, Abort: r.Abort})
			if err == nil {
				s.log.Info("cluster activation", "ref", r.Ref, "gen", a.Gen, "to", r.ID.Short(), "committed", a.Committed, "missing", a.Missing, "left", a.Left, "uid", s.who.UID, "user", s.who.User)
			}
			return a, err
		})
	opReady = rawOp(endpoint{Name: "Ready", Method: "GET", Path: "/v1/ready", Timeout: quick, Peer: true,
		Resp: reflect.TypeFor[Readiness](),
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
// The answer comes within wait and clusterMargin whatever etcd or the
// coordinator do: past it, the release may still go out, and cluster
// status tells.
func (c *Client) ClusterActivate(ctx context.Context, ref string, id store.Ref, reason string, wait time.Duration, abort bool) (ClusterActivation, error) {
	ctx, cancel := context.WithTimeout(ctx, wait+clusterMargin)
	defer cancel()
	a, err := opClusterActivate.call(ctx, c, clusterActivateRequest{Ref: ref, ID: id, Reason: reason, Wait: wait.String(), Abort: abort})
	if err != nil && ctx.Err() != nil {
		return a, fmt.Errorf("no answer from vfsd within --wait %s and %s (the coordinator is stopped or etcd stalls); the release may still go out: vfsctl cluster status tells: %w",
			wait, clusterMargin, context.DeadlineExceeded)
	}
	return a, err
}

// clusterMargin is how much longer than --wait a cluster activation's
// client waits for the answer: the coordinator's withdrawal (abortTimeout,
// 5 s) and the answer's way back. A variable for tests.
var clusterMargin = 10 * time.Second

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

// Readiness is /v1/ready's answer.
type Readiness struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason"`
	// Refs is what this node serves under each ref (cluster status
	// shows drift from it).
	Refs map[string]store.Ref `json:"refs"`
	// Errors are the node's last failures to stage or apply, per ref.
	Errors map[string]string `json:"errors,omitempty"`
}

func serveReady(ctx context.Context, s *session, w http.ResponseWriter, r *http.Request) error {
	ready, why := true, ""
	if s.local.Cluster != nil {
		ready, why = s.local.Cluster.Ready(ctx)
	}
	refs, err := s.local.NamedRefs()
	if err != nil {
		return err
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	var errs map[string]string
	if s.local.Cluster != nil {
		errs = s.local.Cluster.RefErrors()
	}
	writeJSON(w, status, Readiness{Ready: ready, Reason: why, Refs: refs, Errors: errs})
	return nil
}

// PeerReady asks a peer whether it is ready (200 or 503, both with a
// Readiness).
func (c *Client) PeerReady(ctx context.Context) (Readiness, error) {
	var r Readiness
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+opReady.Path, nil)
	if err != nil {
		return r, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
		return r, fmt.Errorf("%s answered %s", opReady.Path, resp.Status)
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r)
	return r, err
}
