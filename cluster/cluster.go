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
//     by hash from the origin's peer listener and checked as an import is;
//     it says so in staged/<node>/<ref>.
//   - committed: the origin saw every member staged and wrote
//     committed/<ref>, in a transaction guarded by the revision of desired
//     it wrote and by membership not having changed since.
//   - applied: a node activated the committed snapshot locally (O(1)) and
//     says so in applied/<node>/<ref>.
//
// Every node reconciles from etcd: a watch wakes it up, and a periodic read
// catches what a watch missed (etcd does not bound watch delivery). Only
// features of etcd 3.4 are used (Debian's etcd-server): leases, guarded
// transactions, watches with prefixes.
//
// Not built yet (docs/cluster.md): fencing a node cut off from etcd,
// readiness on the peer address, lookahead serving of a staged release,
// carry-over from the cluster's history, evicting a slow node, aborting a
// release.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	Peer      string   // this node's peer listener, host:port, as others reach it
	// SessionTTL is the etcd lease of this node's membership, in seconds
	// (10 when zero).
	SessionTTL int
	Log        *slog.Logger
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

	wake chan struct{}
	done chan struct{}
}

type desired struct {
	Gen      uint64    `json:"gen"`
	Snapshot store.Ref `json:"snapshot"`
	Origin   string    `json:"origin"` // peer address to pull from
	Node     string    `json:"node"`
	Reason   string    `json:"reason"`
}

type genValue struct {
	Gen      uint64    `json:"gen"`
	Snapshot store.Ref `json:"snapshot"`
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
	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.Endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
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
func (n *Node) join(ctx context.Context) error {
	grant, err := n.cli.Grant(ctx, int64(n.cfg.SessionTTL))
	if err != nil {
		return err
	}
	alive, err := n.cli.KeepAlive(context.WithoutCancel(ctx), grant.ID)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(member{Peer: n.cfg.Peer})
	if _, err := n.cli.Put(ctx, n.prefix+"members/"+n.cfg.Node, string(b), clientv3.WithLease(grant.ID)); err != nil {
		return err
	}
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

// leaseID is the current membership lease.
func (n *Node) leaseID() clientv3.LeaseID { return clientv3.LeaseID(n.lease.Load()) }

// fenced says why this node must not be trusted to serve what the cluster
// committed, or "".
func (n *Node) fenced() string {
	if n.lease.Load() == 0 {
		return "no membership lease (etcd out of reach or the lease lapsed): not a member, fenced"
	}
	quiet := time.Since(time.Unix(0, n.renewed.Load()))
	if limit := time.Duration(n.cfg.SessionTTL) * time.Second * 2 / 3; quiet > limit {
		return fmt.Sprintf("no answer from etcd for %s (the lease is %ds): fenced", quiet.Round(time.Millisecond), n.cfg.SessionTTL)
	}
	return ""
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
			if err := n.join(ctx); err != nil && ctx.Err() == nil {
				n.cfg.Log.Warn("cluster: join again", "err", err)
			}
		}
		if err := n.reconcile(ctx); err != nil && ctx.Err() == nil {
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
		case <-watch:
		case <-tick.C:
		case <-n.wake:
		}
	}
}

// reconcile stages what is desired and applies what is committed.
func (n *Node) reconcile(ctx context.Context) error {
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
	for _, kv := range resp.Kvs {
		ref := strings.TrimPrefix(string(kv.Key), n.prefix+"committed/")
		var c genValue
		if err := json.Unmarshal(kv.Value, &c); err != nil {
			return fmt.Errorf("committed/%s: %w", ref, err)
		}
		if err := n.apply(ctx, ref, c); err != nil {
			return fmt.Errorf("apply %s generation %d: %w", ref, c.Gen, err)
		}
	}
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
		src := ctl.DialPeer(ctx, d.Origin)
		defer src.Close()
		_, stats, err := snapshot.Pull(ctx, src, store.Verifying(st), d.Snapshot, nil)
		if err != nil {
			return err
		}
		n.cfg.Log.Info("cluster: pulled", "ref", ref, "gen", d.Gen, "snapshot", d.Snapshot.Short(), "from", d.Origin,
			"chunks", stats.Chunks, "bytes", stats.BytesFetched, "had", stats.ChunksHad)
	} else if err != nil {
		return err
	}
	n.local.Lookahead(ref, d.Snapshot)
	b, _ := json.Marshal(genValue{Gen: d.Gen, Snapshot: d.Snapshot})
	if _, err := n.cli.Put(ctx, n.prefix+"staged/"+n.cfg.Node+"/"+ref, string(b), clientv3.WithLease(n.leaseID())); err != nil {
		return err
	}
	n.mu.Lock()
	n.staged[ref] = d.Gen
	n.mu.Unlock()
	return nil
}

// apply activates the committed snapshot locally, then says so.
func (n *Node) apply(ctx context.Context, ref string, c genValue) error {
	n.mu.Lock()
	done := n.applied[ref] >= c.Gen
	n.mu.Unlock()
	if done {
		return nil
	}
	a, err := n.local.Activate(ctx, ref, c.Snapshot, fmt.Sprintf("cluster %s generation %d", n.cfg.Name, c.Gen), false)
	if err != nil {
		return err
	}
	if !a.Unchanged {
		n.cfg.Log.Info("cluster: applied", "ref", ref, "gen", c.Gen, "snapshot", c.Snapshot.Short())
	}
	b, _ := json.Marshal(genValue{Gen: c.Gen, Snapshot: c.Snapshot})
	if _, err := n.cli.Put(ctx, n.prefix+"applied/"+n.cfg.Node+"/"+ref, string(b), clientv3.WithLease(n.leaseID())); err != nil {
		return err
	}
	n.mu.Lock()
	n.applied[ref] = c.Gen
	n.mu.Unlock()
	return nil
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
		return res, err
	}
	var old desired
	var modRev int64
	if len(cur.Kvs) > 0 {
		json.Unmarshal(cur.Kvs[0].Value, &old)
		modRev = cur.Kvs[0].ModRevision
	}
	d := desired{Gen: old.Gen + 1, Snapshot: id, Origin: n.cfg.Peer, Node: n.cfg.Node, Reason: reason}
	res.Gen = d.Gen
	b, _ := json.Marshal(d)
	put, err := n.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).Then(clientv3.OpPut(key, string(b))).Commit()
	if err != nil {
		return res, err
	}
	if !put.Succeeded {
		return res, fmt.Errorf("cluster activate %s: %w", ref, ctl.ErrConflict)
	}
	desiredRev := put.Header.Revision
	n.nudge()
	// Phase one: every member staged this generation.
	_, membersRev, err := n.waitAll(ctx, "staged", ref, d.Gen, &res)
	if err != nil {
		return res, err
	}
	if len(res.Missing) > 0 {
		if abort {
			return res, n.abort(key, desiredRev, d.Gen, ref)
		}
		return res, nil
	}
	// The flip: one transaction, refused if another activation wrote
	// desired since, or if a member joined since the staging was read.
	cb, _ := json.Marshal(genValue{Gen: d.Gen, Snapshot: id})
	commit, err := n.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.ModRevision(key), "=", desiredRev),
		clientv3.Compare(clientv3.CreateRevision(n.prefix+"members/").WithPrefix(), "<", membersRev+1),
	).Then(clientv3.OpPut(n.prefix+"committed/"+ref, string(cb))).Commit()
	if err != nil {
		return res, err
	}
	if !commit.Succeeded {
		return res, fmt.Errorf("cluster activate %s: desired or membership changed before the flip: %w", ref, ctl.ErrConflict)
	}
	res.Committed = true
	n.nudge()
	// Phase two: every member applied it.
	_, _, err = n.waitAll(ctx, "applied", ref, d.Gen, &res)
	return res, err
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
		case <-time.After(50 * time.Millisecond):
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

// Status reads the cluster's keys.
func (n *Node) Status(ctx context.Context) (ctl.ClusterStatus, error) {
	s := ctl.ClusterStatus{Cluster: n.cfg.Name, Node: n.cfg.Node, Members: map[string]string{}, Desired: map[string]uint64{},
		Committed: map[string]uint64{}, Staged: map[string]map[string]uint64{}, Applied: map[string]map[string]uint64{}}
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
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := n.cli.Get(ctx, n.prefix+"committed/", clientv3.WithPrefix())
	if err != nil {
		return false, "etcd: " + err.Error()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, kv := range resp.Kvs {
		ref := strings.TrimPrefix(string(kv.Key), n.prefix+"committed/")
		var c genValue
		if json.Unmarshal(kv.Value, &c) == nil && n.applied[ref] < c.Gen {
			return false, fmt.Sprintf("ref %s: generation %d committed, %d applied here", ref, c.Gen, n.applied[ref])
		}
	}
	return true, ""
}
