// Package cluster makes several vfsd nodes, each with its own store and
// mount, switch a ref together, coordinated through etcd.
//
// Words used here:
//   - member: a node in the cluster, known by the key members/<node>, which
//     lives on the node's etcd session lease: a node whose session ends
//     stops being a member.
//   - generation: the number of a ref's cluster-wide activation, one more
//     each time (a racing activation loses the compare-and-swap).
//   - desired: what the origin (the node an activation was asked of) wants
//     a ref to serve next: desired/<ref> = generation, snapshot, the
//     origin's peer address.
//   - staged: a node holds every object of the desired snapshot, pulled
//     by hash from a source's peer listener and checked as an import is;
//     it says so in staged/<node>/<ref>.
//   - source: a peer that holds the desired snapshot whole: the origin,
//     then any member that staged or applied it. A source whose objects
//     fail their check is counted (Config.Rejected) and the next is tried.
//   - committed: the origin saw every member staged and wrote
//     committed/<ref>, in a transaction guarded by the revision of desired
//     it wrote and by membership not having changed since.
//   - applied: a node activated the committed snapshot locally (O(1)) and
//     says so in applied/<node>/<ref>.
//   - evicted: evicted/<node> (no lease) keeps a node out: its membership
//     lease was revoked when it was written, and it may not join again
//     until the key goes (admit).
//
// Every node reconciles from etcd: a watch wakes it up, and a periodic read
// catches what a watch missed (etcd does not bound watch delivery). Only
// features of etcd 3.4 are used (Debian's etcd-server): leases, guarded
// transactions, watches with prefixes.
//
// A node fences itself (Ready says no) when etcd has not answered for 2/3
// of its lease, unless every other member says the same (then nobody can
// flip); a staged release's assets are served before the flip
// (Local.Lookahead); an activation that a member does not stage in time
// can be withdrawn (abort), or the member evicted; a node that joined
// late activates the release before the committed one first, for its
// assets (desired.Prev); each commit appends to a hash-chained history
// (history.go). Not built (docs/cluster.md): a coordinator other than the
// origin.
package cluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Config is how a node joins.
type Config struct {
	Name      string   // the cluster's name: keys live under /vfs/<name>/
	Node      string   // this node's name, unique in the cluster
	Endpoints []string // etcd
	// TLS, if set, is how etcd is reached (https endpoints): its CA,
	// and this node's client certificate when etcd asks for one.
	TLS *tls.Config
	// Username and Password, if set, authenticate to etcd (its RBAC).
	Username, Password string
	Peer               string // this node's peer listener, host:port, as others reach it
	// SessionTTL is the etcd lease of this node's membership, in seconds
	// (10 when zero).
	SessionTTL int
	Log        *slog.Logger
	// Rejected, if set, is called when a source's objects fail their
	// check (a metric: vfs_cluster_pull_rejected_total).
	Rejected func()
}

// Local is what a node does to its own store.
type Local interface {
	Store() *store.Store
	Activate(ctx context.Context, ref string, id store.Ref, reason string, verify bool) (ctl.Activation, error)
	// Lookahead serves the staged snapshot's assets under ref before the
	// flip, so that during it every node answers the assets of both
	// releases.
	Lookahead(ref string, id store.Ref)
}

// Node is this vfsd in its cluster.
type Node struct {
	cfg    Config
	local  Local
	cli    *clientv3.Client
	prefix string
	// lease holds this node's membership and its staged and applied keys;
	// renewed is when etcd last answered its keepalive (unix nanoseconds).
	// A node that has not heard from etcd for 2/3 of the lease fences
	// itself: it is no longer ready.
	lease   atomic.Int64
	renewed atomic.Int64

	mu      sync.Mutex
	staged  map[string]uint64 // ref -> generation staged here
	applied map[string]uint64 // ref -> generation applied here
	lastErr string            // the last reconcile failure, for status
	evicted string            // why this node may not join, or ""
	peers   map[string]string // the other members, as last read: node -> peer address
	seen    map[string]uint64 // ref -> the committed generation last read

	// allCut caches whether every other member was cut off from etcd
	// too (see fenced), for a second: ready probes come often.
	allCutMu sync.Mutex
	allCutAt time.Time
	allCut   bool

	wake chan struct{}
	done chan struct{}
}

type desired struct {
	Gen      uint64    `json:"gen"`
	Snapshot store.Ref `json:"snapshot"`
	// Prev is the snapshot committed when this was desired: a node that
	// does not serve it (one that joined late, or was away) stages it
	// too and activates it just before Snapshot, so that its activation
	// log carries the previous release's assets over like every other
	// node's (a page loaded from another node before the flip).
	Prev   store.Ref `json:"prev"`
	Origin string    `json:"origin"` // peer address to pull from
	Node   string    `json:"node"`
	Reason string    `json:"reason"`
}

type genValue struct {
	Gen      uint64    `json:"gen"`
	Snapshot store.Ref `json:"snapshot"`
	Prev     store.Ref `json:"prev"` // in committed keys: desired's Prev
	// At, in applied keys, is when this node's local activation took
	// effect, by its clock.
	At time.Time `json:"at,omitzero"`
}

type member struct {
	Peer string `json:"peer"`
}

// Join connects to etcd, registers this node as a member on its session
// lease, and starts reconciling until ctx ends or Close.
func Join(ctx context.Context, cfg Config, local Local) (*Node, error) {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 10
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.Endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		TLS: cfg.TLS, Username: cfg.Username, Password: cfg.Password})
	if err != nil {
		return nil, fmt.Errorf("cluster %s: etcd: %w", cfg.Name, err)
	}
	n := &Node{cfg: cfg, local: local, cli: cli, prefix: "/vfs/" + cfg.Name + "/",
		staged: map[string]uint64{}, applied: map[string]uint64{}, wake: make(chan struct{}, 1), done: make(chan struct{})}
	if err := n.join(ctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("cluster %s: join: %w", cfg.Name, err)
	}
	go n.loop(ctx)
	return n, nil
}

// join takes a new lease, keeps it alive, and puts the membership key on
// it. The staged and applied keys of an earlier lease went with it: they
// are written again by the next reconcile.
func (n *Node) join(parent context.Context) error {
	// Bounded: the client retries a refused handshake (a missing client
	// certificate) or an unreachable etcd for ever, and vfsd's start
	// must end with the reason instead.
	ctx, cancel := context.WithTimeout(parent, joinTimeout)
	defer cancel()
	grant, err := n.cli.Grant(ctx, int64(n.cfg.SessionTTL))
	if err != nil {
		if ctx.Err() != nil && parent.Err() == nil {
			return fmt.Errorf("etcd at %s did not answer within %s (unreachable, or refusing this node's TLS or credentials): %w", strings.Join(n.cfg.Endpoints, ","), joinTimeout, err)
		}
		return err
	}
	alive, err := n.cli.KeepAlive(context.WithoutCancel(parent), grant.ID)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(member{Peer: n.cfg.Peer})
	// Joined only while not evicted, in one transaction: an eviction
	// written after it finds the membership key and revokes its lease.
	evictedKey := n.prefix + "evicted/" + n.cfg.Node
	resp, err := n.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(evictedKey), "=", 0)).
		Then(clientv3.OpPut(n.prefix+"members/"+n.cfg.Node, string(b), clientv3.WithLease(grant.ID))).
		Else(clientv3.OpGet(evictedKey)).Commit()
	if err == nil && !resp.Succeeded {
		var ev ctl.Eviction
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			json.Unmarshal(kvs[0].Value, &ev)
		}
		n.setEvicted(fmt.Sprintf("evicted by %s at %s (%s); vfsctl cluster admit %s lets it join again",
			ev.By, ev.Time.Format(time.RFC3339), ev.Reason, n.cfg.Node))
		err = errEvicted
	}
	if err != nil {
		n.cli.Revoke(context.WithoutCancel(ctx), grant.ID)
		return err
	}
	n.setEvicted("")
	n.mu.Lock()
	n.staged, n.applied = map[string]uint64{}, map[string]uint64{}
	n.mu.Unlock()
	n.lease.Store(int64(grant.ID))
	n.renewed.Store(time.Now().UnixNano())
	go func() {
		for range alive {
			n.renewed.Store(time.Now().UnixNano())
		}
		// The lease is gone (expired while etcd was out of reach, or
		// revoked): the loop joins again.
		if n.lease.CompareAndSwap(int64(grant.ID), 0) {
			n.cfg.Log.Warn("cluster: membership lease lost; joining again")
			n.nudge()
		}
	}()
	return nil
}

// joinTimeout bounds one attempt to join.
const joinTimeout = 10 * time.Second

// errEvicted: this node may not join (evicted/<node> exists).
var errEvicted = errors.New("evicted")

// setEvicted records why this node may not join ("" once it may), and
// logs each change once.
func (n *Node) setEvicted(why string) {
	n.mu.Lock()
	changed := n.evicted != why
	n.evicted = why
	n.mu.Unlock()
	switch {
	case changed && why != "":
		n.cfg.Log.Warn("cluster: this node is "+why, "node", n.cfg.Node)
	case changed:
		n.cfg.Log.Info("cluster: admitted again", "node", n.cfg.Node)
	}
}

// leaseID is the current membership lease.
func (n *Node) leaseID() clientv3.LeaseID { return clientv3.LeaseID(n.lease.Load()) }

// fenced says why this node must not be trusted to serve what the cluster
// committed, or "".
//
// The exception: when every other member it knows is cut off from etcd
// too (each says so on its peer listener), nobody can switch a release,
// and the node stays ready serving the committed one. A member it cannot
// reach may be on etcd's side of a partition: then it fences.
func (n *Node) fenced() string {
	n.mu.Lock()
	evicted := n.evicted
	n.mu.Unlock()
	if evicted != "" {
		return evicted + ": fenced"
	}
	why := ""
	if c := n.Contact(); c.CutOff {
		why = fmt.Sprintf("no answer from etcd for %s (the lease is %ds): fenced", c.Quiet, n.cfg.SessionTTL)
	} else if n.lease.Load() == 0 {
		why = "no membership lease (the lease lapsed; joining again): not a member, fenced"
	}
	if why == "" || !n.nobodyCanFlip() {
		return why
	}
	return ""
}

// Contact says whether etcd has answered this node within 2/3 of its
// lease, from its own state alone.
func (n *Node) Contact() ctl.ClusterContact {
	quiet := time.Since(time.Unix(0, n.renewed.Load()))
	limit := time.Duration(n.cfg.SessionTTL) * time.Second * 2 / 3
	return ctl.ClusterContact{Node: n.cfg.Node, CutOff: quiet > limit, Quiet: quiet.Round(time.Millisecond).String()}
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
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		peer := ctl.DialPeer(ctx, addr)
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

// Close leaves the cluster (the membership lease is revoked).
func (n *Node) Close() error {
	select {
	case <-n.done:
	default:
		close(n.done)
	}
	if id := n.leaseID(); id != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		n.cli.Revoke(ctx, id)
		cancel()
	}
	return n.cli.Close()
}

// reconcileEvery bounds how long a missed watch event can go unnoticed.
const reconcileEvery = 2 * time.Second

func (n *Node) loop(ctx context.Context) {
	watch := n.cli.Watch(clientv3.WithRequireLeader(ctx), n.prefix, clientv3.WithPrefix())
	tick := time.NewTicker(reconcileEvery)
	defer tick.Stop()
	for {
		if n.lease.Load() == 0 {
			err := n.join(ctx)
			if err != nil && ctx.Err() == nil && !errors.Is(err, errEvicted) {
				n.cfg.Log.Warn("cluster: join again", "err", err)
			}
		}
		// Only a member reconciles: its staged and applied keys live on
		// its lease (a put without one would outlive the node), and an
		// evicted node keeps serving what it has.
		if n.lease.Load() == 0 {
			// not a member: try again at the next wake
		} else if err := n.reconcile(ctx); err != nil && ctx.Err() == nil {
			n.cfg.Log.Warn("cluster: reconcile", "err", err)
			n.mu.Lock()
			n.lastErr = err.Error()
			n.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-n.done:
			return
		case w, ok := <-watch:
			if !ok || w.Canceled {
				// Closed (etcd lost its leader, or the stream ended): a
				// closed channel would wake the loop at once forever.
				// Watch again after a pause; the periodic read covers
				// the gap.
				time.Sleep(time.Second)
				watch = n.cli.Watch(clientv3.WithRequireLeader(ctx), n.prefix, clientv3.WithPrefix())
			}
		case <-tick.C:
		case <-n.wake:
		}
	}
}

// reconcile stages what is desired and applies what is committed, and
// remembers the other members (for fenced).
func (n *Node) reconcile(ctx context.Context) error {
	mresp, err := n.cli.Get(ctx, n.prefix+"members/", clientv3.WithPrefix())
	if err != nil {
		return err
	}
	peers := map[string]string{}
	for _, kv := range mresp.Kvs {
		var m member
		node := strings.TrimPrefix(string(kv.Key), n.prefix+"members/")
		if node != n.cfg.Node && json.Unmarshal(kv.Value, &m) == nil {
			peers[node] = m.Peer
		}
	}
	n.mu.Lock()
	n.peers = peers
	n.mu.Unlock()
	resp, err := n.cli.Get(ctx, n.prefix+"desired/", clientv3.WithPrefix())
	if err != nil {
		return err
	}
	for _, kv := range resp.Kvs {
		ref := strings.TrimPrefix(string(kv.Key), n.prefix+"desired/")
		var d desired
		if err := json.Unmarshal(kv.Value, &d); err != nil {
			return fmt.Errorf("desired/%s: %w", ref, err)
		}
		if err := n.stage(ctx, ref, d); err != nil {
			return fmt.Errorf("stage %s generation %d: %w", ref, d.Gen, err)
		}
	}
	resp, err = n.cli.Get(ctx, n.prefix+"committed/", clientv3.WithPrefix())
	if err != nil {
		return err
	}
	seen := map[string]uint64{}
	for _, kv := range resp.Kvs {
		ref := strings.TrimPrefix(string(kv.Key), n.prefix+"committed/")
		var c genValue
		if err := json.Unmarshal(kv.Value, &c); err != nil {
			return fmt.Errorf("committed/%s: %w", ref, err)
		}
		seen[ref] = c.Gen
		if err := n.apply(ctx, ref, c); err != nil {
			return fmt.Errorf("apply %s generation %d: %w", ref, c.Gen, err)
		}
	}
	n.mu.Lock()
	n.seen = seen
	n.mu.Unlock()
	return nil
}

// stage pulls the desired snapshot if this store lacks it, then says so.
func (n *Node) stage(ctx context.Context, ref string, d desired) error {
	n.mu.Lock()
	done := n.staged[ref] >= d.Gen
	n.mu.Unlock()
	if done {
		return nil
	}
	st := n.local.Store()
	if _, err := st.Snapshot(d.Snapshot); errors.Is(err, store.ErrNotFound) {
		if err := n.pull(ctx, ref, d, d.Snapshot); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if n.needsPrev(ref, d.Prev) {
		if _, err := st.Snapshot(d.Prev); errors.Is(err, store.ErrNotFound) {
			if err := n.pull(ctx, ref, d, d.Prev); err != nil {
				// Carry-over of the previous release is worth a
				// pull, not holding the release up.
				n.cfg.Log.Warn("cluster: could not pull the previous release for carry-over", "ref", ref, "snapshot", d.Prev.Short(), "err", err)
			}
		}
	}
	n.local.Lookahead(ref, d.Snapshot)
	return n.report(ctx, "staged", ref, genValue{Gen: d.Gen, Snapshot: d.Snapshot})
}

// report writes state/<node>/<ref> (staged or applied) on this node's
// lease, then remembers the generation (n.staged or n.applied; join may
// have replaced either meanwhile, so the map is picked under n.mu).
func (n *Node) report(ctx context.Context, state, ref string, g genValue) error {
	b, _ := json.Marshal(g)
	if _, err := n.cli.Put(ctx, n.prefix+state+"/"+n.cfg.Node+"/"+ref, string(b), clientv3.WithLease(n.leaseID())); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if state == "staged" {
		n.staged[ref] = g.Gen
	} else {
		n.applied[ref] = g.Gen
	}
	return nil
}

// needsPrev says whether this node should activate prev before the next
// release of ref: it does not serve prev now (it joined late or was away).
func (n *Node) needsPrev(ref string, prev store.Ref) bool {
	if prev.IsZero() {
		return false
	}
	refs, err := n.local.Store().NamedRefs()
	return err == nil && refs[ref] != prev
}

// pull copies snapshot id (d's, or its Prev) from the first source that
// gives it whole and true: the origin, then the members that staged or
// applied d. Objects that fail their check are never recorded
// (snapshot.Pull); the source is counted as rejected and the next tried.
func (n *Node) pull(ctx context.Context, ref string, d desired, id store.Ref) error {
	srcs, err := n.sources(ctx, ref, d)
	if err != nil {
		return err
	}
	dst, err := n.target()
	if err != nil {
		return err
	}
	var errs []error
	for _, addr := range srcs {
		src := ctl.DialPeer(ctx, addr)
		_, stats, err := snapshot.Pull(ctx, src, dst, id, nil)
		src.Close()
		if err == nil {
			n.cfg.Log.Info("cluster: pulled", "ref", ref, "gen", d.Gen, "snapshot", id.Short(), "from", addr,
				"trees", stats.Trees, "trees_had", stats.TreesHad, "files", stats.Files, "chunks", stats.Chunks,
				"chunk_bytes", stats.BytesFetched, "had", stats.ChunksHad, "received", src.BytesReceived())
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if errors.Is(err, store.ErrCorrupt) || errors.Is(err, store.ErrInvalid) {
			n.cfg.Log.Warn("cluster: rejected what a source sent", "ref", ref, "gen", d.Gen, "from", addr, "err", err)
			if n.cfg.Rejected != nil {
				n.cfg.Rejected()
			}
		}
		errs = append(errs, fmt.Errorf("from %s: %w", addr, err))
	}
	return fmt.Errorf("pull %s: %w", id.Short(), errors.Join(errs...))
}

// wholeTrees is a pull's target that knows the trees of the snapshots this
// node's refs point at: an activation checked each complete, so a pull
// skips them and what is below them (snapshot.TreeHaver).
type wholeTrees struct {
	snapshot.Target
	trees map[store.Ref]bool
}

func (w wholeTrees) HasTreeWhole(ref store.Ref) bool { return w.trees[ref] }

// target is where pulls go: this node's store, checking what arrives,
// with the trees of the snapshots its refs serve known whole.
func (n *Node) target() (snapshot.Target, error) {
	st := n.local.Store()
	refs, err := st.NamedRefs()
	if err != nil {
		return nil, err
	}
	trees := map[store.Ref]bool{}
	for _, id := range refs {
		if trees[id] {
			continue
		}
		// A snapshot whose walk meets damage vouches for nothing.
		these, damaged := map[store.Ref]bool{id: true}, false
		err := store.Walk(st, id, func(_ string, e store.Entry) error {
			if e.Kind == store.KindDir {
				these[e.Ref] = true
			}
			return nil
		}, func(string, store.Ref, error) error { damaged = true; return nil })
		if err != nil {
			return nil, err
		}
		if !damaged {
			maps.Copy(trees, these)
		}
	}
	return wholeTrees{store.Verifying(st), trees}, nil
}

// sources lists the peers to pull d's snapshot from: the origin first,
// then every other member that staged or applied that snapshot (it holds
// it whole), never this node.
func (n *Node) sources(ctx context.Context, ref string, d desired) ([]string, error) {
	resp, err := n.cli.Get(ctx, n.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	peers := map[string]string{}
	var holders []string
	for _, kv := range resp.Kvs {
		kind, rest, _ := strings.Cut(strings.TrimPrefix(string(kv.Key), n.prefix), "/")
		switch kind {
		case "members":
			var m member
			if json.Unmarshal(kv.Value, &m) == nil {
				peers[rest] = m.Peer
			}
		case "staged", "applied":
			node, r, _ := strings.Cut(rest, "/")
			var g genValue
			if r == ref && node != n.cfg.Node && json.Unmarshal(kv.Value, &g) == nil && g.Snapshot == d.Snapshot {
				holders = append(holders, node)
			}
		}
	}
	out := []string{d.Origin}
	seen := map[string]bool{d.Origin: true, n.cfg.Peer: true}
	for _, node := range holders {
		if p := peers[node]; p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// apply activates the committed snapshot locally, then says so.
func (n *Node) apply(ctx context.Context, ref string, c genValue) error {
	n.mu.Lock()
	done := n.applied[ref] >= c.Gen
	n.mu.Unlock()
	if done {
		return nil
	}
	if n.needsPrev(ref, c.Prev) && c.Prev != c.Snapshot {
		if _, err := n.local.Store().Snapshot(c.Prev); err == nil {
			// Catching up: the previous release first, so that the
			// log carries its assets over for the grace window.
			if _, err := n.local.Activate(ctx, ref, c.Prev, fmt.Sprintf("cluster %s generation %d: the previous release, for carry-over", n.cfg.Name, c.Gen), false); err != nil {
				return err
			}
		}
	}
	a, err := n.local.Activate(ctx, ref, c.Snapshot, fmt.Sprintf("cluster %s generation %d", n.cfg.Name, c.Gen), false)
	if err != nil {
		return err
	}
	at := time.Now()
	if !a.Unchanged {
		n.cfg.Log.Info("cluster: applied", "ref", ref, "gen", c.Gen, "snapshot", c.Snapshot.Short())
	}
	return n.report(ctx, "applied", ref, genValue{Gen: c.Gen, Snapshot: c.Snapshot, At: at})
}

// Activate asks the cluster to serve snapshot id under ref: it becomes the
// desired generation, every member stages it, this node commits it once all
// have, and every member applies it. It returns when all applied, or when
// wait ends, naming the members that did not.
func (n *Node) Activate(ctx context.Context, ref string, id store.Ref, reason string, wait time.Duration, abort bool) (ctl.ClusterActivation, error) {
	res := ctl.ClusterActivation{Ref: ref, Snapshot: id, Members: []string{}, Missing: []string{}}
	if err := store.CheckLabel(ref); err != nil {
		return res, err
	}
	if _, err := n.local.Store().Snapshot(id); err != nil {
		return res, fmt.Errorf("cluster activate: this node is the origin and must hold the snapshot: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	key := n.prefix + "desired/" + ref
	cur, err := n.cli.Get(ctx, key)
	if err != nil {
		return res, etcdError(err, wait)
	}
	var old desired
	var modRev int64
	if len(cur.Kvs) > 0 {
		json.Unmarshal(cur.Kvs[0].Value, &old)
		modRev = cur.Kvs[0].ModRevision
	}
	prev, err := n.committed(ctx, ref)
	if err != nil {
		return res, etcdError(err, wait)
	}
	d := desired{Gen: old.Gen + 1, Snapshot: id, Prev: prev.Snapshot, Origin: n.cfg.Peer, Node: n.cfg.Node, Reason: reason}
	res.Gen = d.Gen
	b, _ := json.Marshal(d)
	put, err := n.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).Then(clientv3.OpPut(key, string(b))).Commit()
	if err != nil {
		return res, etcdError(err, wait)
	}
	if !put.Succeeded {
		return res, fmt.Errorf("cluster activate %s: %w", ref, ctl.ErrConflict)
	}
	desiredRev := put.Header.Revision
	n.nudge()
	// Phase one: every member staged this generation.
	start := time.Now()
	_, membersRev, err := n.waitAll(ctx, "staged", ref, d.Gen, &res)
	if err != nil {
		return res, err
	}
	res.Phases.Stage = time.Since(start).String()
	if len(res.Missing) > 0 {
		if abort {
			return res, n.abort(key, desiredRev, d.Gen, ref)
		}
		return res, nil
	}
	// The flip: one transaction, refused if another activation wrote
	// desired since, or if a member joined since the staging was read.
	start = time.Now()
	cb, _ := json.Marshal(genValue{Gen: d.Gen, Snapshot: id, Prev: d.Prev})
	entry, err := n.nextEntry(ctx, ref, d)
	if err != nil {
		return res, etcdError(err, wait)
	}
	eb, _ := json.Marshal(entry)
	hkey := n.historyKey(ref, d.Gen)
	commit, err := n.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.ModRevision(key), "=", desiredRev),
		clientv3.Compare(clientv3.CreateRevision(n.prefix+"members/").WithPrefix(), "<", membersRev+1),
		clientv3.Compare(clientv3.CreateRevision(hkey), "=", 0),
	).Then(clientv3.OpPut(n.prefix+"committed/"+ref, string(cb)), clientv3.OpPut(hkey, string(eb))).Commit()
	if err != nil {
		return res, etcdError(err, wait)
	}
	if !commit.Succeeded {
		return res, fmt.Errorf("cluster activate %s: desired or membership changed before the flip: %w", ref, ctl.ErrConflict)
	}
	res.Committed = true
	res.Phases.Decide = time.Since(start).String()
	n.nudge()
	// Phase two: every member applied it.
	start = time.Now()
	_, _, err = n.waitAll(ctx, "applied", ref, d.Gen, &res)
	if err != nil || len(res.Missing) > 0 {
		return res, err
	}
	res.Phases.Apply = time.Since(start).String()
	if spread, err := n.flipSpread(ctx, ref, d.Gen); err == nil {
		res.Phases.FlipSpread = spread.String()
	}
	return res, nil
}

// flipSpread reads when each member applied generation gen of ref and
// returns the time between the first and the last.
func (n *Node) flipSpread(ctx context.Context, ref string, gen uint64) (time.Duration, error) {
	resp, err := n.cli.Get(ctx, n.prefix+"applied/", clientv3.WithPrefix())
	if err != nil {
		return 0, err
	}
	var first, last time.Time
	for _, kv := range resp.Kvs {
		_, r, _ := strings.Cut(strings.TrimPrefix(string(kv.Key), n.prefix+"applied/"), "/")
		var g genValue
		if r != ref || json.Unmarshal(kv.Value, &g) != nil || g.Gen != gen || g.At.IsZero() {
			continue
		}
		if first.IsZero() || g.At.Before(first) {
			first = g.At
		}
		if g.At.After(last) {
			last = g.At
		}
	}
	return last.Sub(first), nil
}

// etcdError says that etcd did not answer, as the unavailable kind (vfsctl
// exit 1), rather than a bare deadline.
func etcdError(err error, wait time.Duration) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("cluster activate: etcd did not answer within %s (is it running and reachable?): %w", wait, ctl.ErrUnavailable)
	}
	return fmt.Errorf("cluster activate: etcd: %w", err)
}

// committed reads ref's committed generation (zero if none).
func (n *Node) committed(ctx context.Context, ref string) (genValue, error) {
	var c genValue
	resp, err := n.cli.Get(ctx, n.prefix+"committed/"+ref)
	if err != nil || len(resp.Kvs) == 0 {
		return c, err
	}
	return c, json.Unmarshal(resp.Kvs[0].Value, &c)
}

// abort withdraws an uncommitted release: desired becomes the committed
// snapshot again, at the next generation (so that no member goes on
// staging the withdrawn one), or goes if nothing was ever committed. It is
// guarded by the revision this activation wrote: a later activation wins.
func (n *Node) abort(key string, desiredRev int64, gen uint64, ref string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cur, err := n.cli.Get(ctx, n.prefix+"committed/"+ref)
	if err != nil {
		return err
	}
	op := clientv3.OpDelete(key)
	if len(cur.Kvs) > 0 {
		var c genValue
		json.Unmarshal(cur.Kvs[0].Value, &c)
		b, _ := json.Marshal(desired{Gen: gen + 1, Snapshot: c.Snapshot, Origin: n.cfg.Peer, Node: n.cfg.Node, Reason: "abort"})
		op = clientv3.OpPut(key, string(b))
	}
	resp, err := n.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", desiredRev)).Then(op).Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return fmt.Errorf("abort %s generation %d: %w", ref, gen, ctl.ErrConflict)
	}
	n.cfg.Log.Warn("cluster: release aborted", "ref", ref, "gen", gen)
	return nil
}

// waitAll waits until every member has written state/<node>/<ref> with gen
// or more, or ctx ends; it fills res.Members and res.Missing, and returns
// the members and the revision they were read at.
func (n *Node) waitAll(ctx context.Context, state, ref string, gen uint64, res *ctl.ClusterActivation) ([]string, int64, error) {
	// A watch wakes the wait at each change under the cluster's prefix
	// (polling every 50 ms made each phase last 50 ms at least); the
	// periodic read stays, since etcd does not bound watch delivery.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changes := n.cli.Watch(clientv3.WithRequireLeader(wctx), n.prefix, clientv3.WithPrefix())
	for {
		members, rev, err := n.members(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, 0, nil
			}
			return nil, 0, err
		}
		resp, err := n.cli.Get(ctx, n.prefix+state+"/", clientv3.WithPrefix())
		if err != nil {
			if ctx.Err() != nil {
				return members, rev, nil
			}
			return nil, 0, err
		}
		done := map[string]bool{}
		for _, kv := range resp.Kvs {
			node, r, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), n.prefix+state+"/"), "/")
			var g genValue
			if ok && r == ref && json.Unmarshal(kv.Value, &g) == nil && g.Gen >= gen {
				done[node] = true
			}
		}
		res.Members, res.Missing = members, []string{}
		for _, m := range members {
			if !done[m] {
				res.Missing = append(res.Missing, m)
			}
		}
		if len(res.Missing) == 0 {
			return members, rev, nil
		}
		select {
		case <-ctx.Done():
			return members, rev, nil
		case <-changes:
		case <-time.After(time.Second):
		}
	}
}

// members lists the live members and the revision of the read.
func (n *Node) members(ctx context.Context) ([]string, int64, error) {
	resp, err := n.cli.Get(ctx, n.prefix+"members/", clientv3.WithPrefix())
	if err != nil {
		return nil, 0, err
	}
	var out []string
	for _, kv := range resp.Kvs {
		out = append(out, strings.TrimPrefix(string(kv.Key), n.prefix+"members/"))
	}
	sort.Strings(out)
	return out, resp.Header.Revision, nil
}

func (n *Node) nudge() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Evict takes node out of the cluster: evicted/<node> first, so that it
// cannot join again, then its membership lease is revoked, which removes
// its membership, staged and applied keys at once.
func (n *Node) Evict(ctx context.Context, node, reason string) error {
	if err := checkNode(node); err != nil {
		return err
	}
	if node == n.cfg.Node {
		return fmt.Errorf("evict %s: a node cannot evict itself; ask another member: %w", node, store.ErrInvalid)
	}
	b, _ := json.Marshal(ctl.Eviction{By: n.cfg.Node, Time: time.Now().UTC(), Reason: reason})
	if _, err := n.cli.Put(ctx, n.prefix+"evicted/"+node, string(b)); err != nil {
		return fmt.Errorf("evict %s: %w", node, err)
	}
	resp, err := n.cli.Get(ctx, n.prefix+"members/"+node)
	if err != nil {
		return fmt.Errorf("evict %s: %w", node, err)
	}
	for _, kv := range resp.Kvs {
		if _, err := n.cli.Revoke(ctx, clientv3.LeaseID(kv.Lease)); err != nil {
			return fmt.Errorf("evict %s: revoke its membership: %w", node, err)
		}
	}
	n.nudge()
	return nil
}

// Admit lets an evicted node join again.
func (n *Node) Admit(ctx context.Context, node string) error {
	if err := checkNode(node); err != nil {
		return err
	}
	resp, err := n.cli.Delete(ctx, n.prefix+"evicted/"+node)
	if err != nil {
		return fmt.Errorf("admit %s: %w", node, err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("admit %s: not evicted: %w", node, store.ErrNotFound)
	}
	return nil
}

// checkNode refuses a node name that cannot be one key segment.
func checkNode(node string) error {
	if node == "" || strings.ContainsAny(node, "/\x00") || len(node) > 255 {
		return fmt.Errorf("node name %q: 1 to 255 bytes, no slash: %w", node, store.ErrInvalid)
	}
	return nil
}

// Status reads the cluster's keys.
func (n *Node) Status(ctx context.Context) (ctl.ClusterStatus, error) {
	s := ctl.ClusterStatus{Cluster: n.cfg.Name, Node: n.cfg.Node, Members: map[string]string{}, Desired: map[string]uint64{},
		Committed: map[string]uint64{}, Staged: map[string]map[string]uint64{}, Applied: map[string]map[string]uint64{},
		Evicted: map[string]ctl.Eviction{}}
	n.mu.Lock()
	s.Error = n.lastErr
	n.mu.Unlock()
	resp, err := n.cli.Get(ctx, n.prefix, clientv3.WithPrefix())
	if err != nil {
		return s, err
	}
	for _, kv := range resp.Kvs {
		kind, rest, _ := strings.Cut(strings.TrimPrefix(string(kv.Key), n.prefix), "/")
		var g genValue
		json.Unmarshal(kv.Value, &g)
		switch kind {
		case "members":
			var m member
			json.Unmarshal(kv.Value, &m)
			s.Members[rest] = m.Peer
		case "desired":
			s.Desired[rest] = g.Gen
		case "evicted":
			var ev ctl.Eviction
			json.Unmarshal(kv.Value, &ev)
			s.Evicted[rest] = ev
		case "committed":
			s.Committed[rest] = g.Gen
		case "staged", "applied":
			node, ref, _ := strings.Cut(rest, "/")
			m := s.Staged
			if kind == "applied" {
				m = s.Applied
			}
			if m[node] == nil {
				m[node] = map[string]uint64{}
			}
			m[node][ref] = g.Gen
		}
	}
	return s, nil
}

var _ ctl.Cluster = (*Node)(nil)

// Ready reports whether this node should get traffic: it is a member (its
// etcd session is live) and serves the committed generation of every
// ref; otherwise why not.
func (n *Node) Ready(ctx context.Context) (bool, string) {
	if why := n.fenced(); why != "" {
		return false, why
	}
	committed := map[string]uint64{}
	if n.Contact().CutOff || n.lease.Load() == 0 {
		// Nobody can flip (fenced said so): what was last committed
		// is what everyone serves.
		n.mu.Lock()
		committed = maps.Clone(n.seen)
		n.mu.Unlock()
	} else {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		resp, err := n.cli.Get(ctx, n.prefix+"committed/", clientv3.WithPrefix())
		if err != nil {
			return false, "etcd: " + err.Error()
		}
		for _, kv := range resp.Kvs {
			var c genValue
			if json.Unmarshal(kv.Value, &c) == nil {
				committed[strings.TrimPrefix(string(kv.Key), n.prefix+"committed/")] = c.Gen
			}
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for ref, gen := range committed {
		if n.applied[ref] < gen {
			return false, fmt.Sprintf("ref %s: generation %d committed, %d applied here", ref, gen, n.applied[ref])
		}
	}
	return true, ""
}
