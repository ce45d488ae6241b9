package cluster

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"time"

	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/store"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Readiness: a node should get traffic while it is a member that hears
// from etcd and serves, under every ref the cluster manages, the release
// the cluster committed (or the one it applied, when etcd is behind it).
// It reads no etcd: what the node last read is enough, and fencing covers
// a node that no longer hears from etcd. Hooks are never on this path.

// fenced says why this node must not be trusted to serve what the cluster
// committed, or "".
//
// The exception: when every other member it knows is cut off from etcd
// too (each says so on its peer listener), nobody can switch a release,
// and the node stays ready serving the committed one. A member it cannot
// reach may be on etcd's side of a partition: then it fences.
func (n *Node) fenced() string {
	n.mu.Lock()
	evicted, member := n.evicted, n.session != nil
	n.mu.Unlock()
	if evicted != "" {
		return evicted + ": fenced"
	}
	why := ""
	if c := n.Contact(); c.CutOff {
		why = fmt.Sprintf("no answer from etcd for %s (the lease is %ds): fenced", c.Quiet, n.cfg.SessionTTL)
	} else if !member {
		why = "no membership lease (the lease lapsed; joining again): not a member, fenced"
	}
	if why == "" || !n.nobodyCanFlip() {
		return why
	}
	return ""
}

// nobodyCanFlip reports whether every other member this node last knew
// of says it is cut off from etcd too (asked on their peer listeners, a
// second at most). With no other member, nobody else can flip either.
func (n *Node) nobodyCanFlip() bool {
	n.allCutMu.Lock()
	defer n.allCutMu.Unlock()
	if time.Since(n.allCutAt) < time.Second {
		return n.allCut
	}
	n.mu.Lock()
	peers := maps.Clone(n.peers)
	n.mu.Unlock()
	all := true
	for _, addr := range peers {
		ctx, cancel := context.WithTimeout(n.ctx, 500*time.Millisecond)
		peer := ctl.DialPeer(ctx, addr, n.cfg.Peers)
		c, err := peer.ClusterContact(ctx)
		peer.Close()
		cancel()
		if err != nil || !c.CutOff {
			all = false
			break
		}
	}
	if all && !n.allCut {
		n.cfg.Log.Warn("cluster: every member is cut off from etcd: nobody can switch a release, so this node stays ready", "members", len(peers)+1)
	}
	n.allCut, n.allCutAt = all, time.Now()
	return all
}

// Ready reports whether this node should get traffic, and otherwise why
// not: fenced, a release committed and not applied here, or drift (the
// ref moved on this node alone).
func (n *Node) Ready(ctx context.Context) (bool, string) {
	if why := n.fenced(); why != "" {
		return false, why
	}
	// What this node last read of etcd must be fresh: a node continued
	// after SIGSTOP, or just started, has an old view or none, and the
	// others may have released without it meanwhile (its lease can lapse
	// 2/3 of a lease after its last read). Unless nobody can read etcd
	// now (fenced let that pass: nobody can flip either), an old view is
	// read again first, at most a second.
	n.mu.Lock()
	age := time.Since(n.readAt)
	n.mu.Unlock()
	if age > n.reconcileEvery()+250*time.Millisecond && !n.Contact().CutOff {
		n.nudge()
		if err := n.freshen(ctx); err != nil {
			return false, fmt.Sprintf("this node last read the cluster's releases %s ago and cannot read them now: %v", age.Round(time.Millisecond), err)
		}
	}
	serves, err := n.local.Store().NamedRefs()
	if err != nil {
		return false, "this node's refs: " + err.Error()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	refs := make([]string, 0, len(n.refs))
	for ref := range n.refs {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	for _, ref := range refs {
		if why := n.unready(ref, n.refs[ref], serves[ref]); why != "" {
			return false, why
		}
	}
	return true, ""
}

// freshen reads every committed release, for Ready: a lighter read than
// reconcile's, which the nudge brings soon after.
func (n *Node) freshen(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), time.Second)
	defer cancel()
	resp, err := n.cli.Get(ctx, n.keys.committedAll(), clientv3.WithPrefix())
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, kv := range resp.Kvs {
		ref, err := n.keys.refOf(n.keys.committedAll(), kv.Key)
		if err != nil {
			continue
		}
		c, err := decodeValue[commit](kv.Key, kv.Value)
		if err != nil {
			continue
		}
		rs := n.ref(ref)
		if rs.committed == nil || rs.committed.Gen != c.Gen || rs.committed.Snapshot != c.Snapshot {
			rs.committed, rs.seenAt = &c, time.Now()
		}
	}
	return nil
}

// want is the snapshot the cluster has this node serve under a ref, and
// its generation: the committed release, or, when etcd shows less than
// this node applied (a restore), what it applied.
func (rs *refState) want() (uint64, store.Ref) {
	switch {
	case rs.committed == nil || rs.committed.Gen < rs.applied.Gen:
		return rs.applied.Gen, rs.applied.Snapshot
	default:
		return rs.committed.Gen, rs.committed.Snapshot
	}
}

// unready says why a node serving serves under ref is not in step with
// the cluster, or "". n.mu is held.
func (n *Node) unready(ref string, rs *refState, serves store.Ref) string {
	gen, want := rs.want()
	// Ready once the store serves it and the switch has returned (the
	// mount retargeted: the store moves first, the mount a moment after).
	if gen == 0 || (serves == want && rs.applied.Snapshot == want) {
		return ""
	}
	c := rs.committed
	if c != nil && want == c.Snapshot && (rs.applied.Gen < c.Gen || rs.applied.Snapshot != want) {
		// Being applied: a node that staged the release before it saw
		// the commit (it took part in the release) is given a lease to
		// switch (milliseconds, usually), so that a release never takes
		// every node out of a load balancer at once. A node that stages
		// it only after the commit (it joined late, or was stopped) is
		// catching up, and not ready until it serves it.
		if rs.staged.matches(c.Gen, c.Snapshot) && rs.stagedAt.Before(rs.seenAt) && time.Since(rs.seenAt) < time.Duration(n.cfg.SessionTTL)*time.Second {
			return ""
		}
		why := fmt.Sprintf("ref %s: generation %d (%s) committed, this node serves %s", ref, c.Gen, c.Snapshot.Short(), shortOrNone(serves))
		if rs.err != "" {
			why += ": " + rs.err
		}
		return why
	}
	return fmt.Sprintf("ref %s: drift: this node serves %s, the cluster's generation %d is %s (moved on this node alone, with --local or by hand); the next release, or vfsctl activate %s --cluster --ref %s, ends it",
		ref, shortOrNone(serves), gen, shortOrNone(want), shortOrNone(want), ref)
}

// Manages says whether the cluster manages ref (it has a release of it,
// or this node applied one): such a ref moves only with --cluster, or
// with --local as a deliberate exception.
func (n *Node) Manages(ref string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	rs := n.refs[ref]
	return rs != nil && (rs.desired != nil || rs.committed != nil || rs.applied.Gen > 0)
}

// Health is what a node's metrics say of it in its cluster.
type Health struct {
	Ready bool
	// EtcdUnreachable: etcd does not answer this node now.
	EtcdUnreachable bool
	// Behind counts the refs for which etcd shows less than this node
	// applied (a restore); Unreadable the values under the cluster's
	// prefix this node cannot read.
	Behind, Unreadable int
}

// EtcdRequests counts the requests this node made of etcd since it joined
// (a watch or lease keep-alive stream counts once).
func (n *Node) EtcdRequests() int64 { return n.requests.Load() }

// Health reports this node's health in its cluster, for metrics.
func (n *Node) Health() Health {
	ready, _ := n.Ready(n.ctx)
	h := Health{Ready: ready}
	n.mu.Lock()
	defer n.mu.Unlock()
	h.EtcdUnreachable = !n.failing.IsZero()
	h.Unreadable = len(n.problems)
	for _, rs := range n.refs {
		if rs.behind != "" {
			h.Behind++
		}
		if rs.bad != "" {
			h.Unreadable++
		}
	}
	return h
}
