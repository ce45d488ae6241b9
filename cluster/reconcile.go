package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Reconciling: one loop (run) keeps the membership and reads etcd; each
// ref has a worker of its own that stages and applies it, so a ref whose
// pull is slow or fails holds no other.

// reconcileEvery bounds how long a missed watch event can go unnoticed:
// 2 s, or a third of the lease when that is shorter, so that a node's view
// is never older than a lease while etcd answers (Ready's freshness).
func (n *Node) reconcileEvery() time.Duration {
	return min(2*time.Second, time.Duration(n.cfg.SessionTTL)*time.Second/3)
}

// readTimeout bounds one read of etcd.
const readTimeout = 5 * time.Second

// run keeps this node a member and reads etcd at each change of a release
// (a watch from the revision of the read before it, so nothing falls
// between), each nudge, and every reconcileEvery() (etcd does not bound
// watch delivery).
func (n *Node) run() {
	defer n.wg.Done()
	tick := time.NewTicker(n.reconcileEvery())
	defer tick.Stop()
	var watch clientv3.WatchChan
	stopWatch := func() {}
	defer func() { stopWatch() }()
	skipRead := false
	for {
		n.mu.Lock()
		s := n.session
		n.mu.Unlock()
		if s == nil {
			if err := n.join(); err != nil && n.ctx.Err() == nil && !errors.Is(err, errEvicted) {
				n.failed(err)
				n.cfg.Log.Warn("cluster: join again", "err", err)
			}
			n.mu.Lock()
			s = n.session
			n.mu.Unlock()
		}
		var lost <-chan struct{}
		read := !skipRead
		skipRead = false
		if s != nil {
			lost = s.Done()
		}
		if s != nil && read {
			if rev, err := n.reconcile(); err != nil {
				if n.ctx.Err() == nil {
					n.failed(err)
				}
			} else if watch == nil {
				wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(n.ctx))
				from, end := n.keys.releases()
				watch, stopWatch = n.cli.Watch(wctx, from, clientv3.WithRange(end), clientv3.WithRev(rev+1)), cancel
			}
		}
		select {
		case <-n.ctx.Done():
			return
		case <-lost:
			n.mu.Lock()
			if n.session == s {
				n.session = nil
			}
			n.mu.Unlock()
			n.cfg.Log.Warn("cluster: membership lease lost; joining again")
		case w, ok := <-watch:
			// Commits alone are taken from the event; anything else
			// is read again.
			skipRead = ok && !w.Canceled && w.Err() == nil && n.commitsOnly(w.Events)
			if !ok || w.Canceled || w.Err() != nil {
				// Closed (etcd lost its leader, a compaction, the stream
				// ended): the next read starts another from its revision.
				stopWatch()
				watch = nil
			}
		case <-tick.C:
		case <-n.wake:
		}
	}
}

// commitsOnly takes watch events that only commit newer releases of refs
// this node works on, and wakes their workers at once: at a commit, every
// member reading etcd before its flip put thirty reads on etcd and on the
// machines at the same moment, and spread the flips (make bench-cluster).
// It reports false, having changed nothing, for any other event; the
// caller then reads etcd as usual. The periodic read follows within
// reconcileEvery() either way.
func (n *Node) commitsOnly(events []*clientv3.Event) bool {
	if len(events) == 0 {
		return false
	}
	type seen struct {
		rs *refState
		c  commit
	}
	var next []seen
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ev := range events {
		if ev.Type != clientv3.EventTypePut {
			return false
		}
		ref, err := n.keys.refOf(n.keys.committedAll(), ev.Kv.Key)
		if err != nil {
			return false
		}
		rs := n.refs[ref]
		if rs == nil || !rs.started || rs.bad != "" {
			return false
		}
		c, err := decodeValue[commit](ev.Kv.Key, ev.Kv.Value)
		if err != nil || (rs.committed != nil && c.Gen <= rs.committed.Gen) {
			return false
		}
		next = append(next, seen{rs, c})
	}
	for _, x := range next {
		x.rs.committed, x.rs.seenAt = &x.c, time.Now()
		select {
		case x.rs.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// reconcile reads the members, every desired and committed release and
// this node's own reports, in one transaction (one revision), records
// them, and wakes each ref's worker. A value that cannot be read is
// recorded for its ref (or member) alone.
func (n *Node) reconcile() (int64, error) {
	ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(n.ctx), readTimeout)
	defer cancel()
	k := n.keys
	resp, err := n.cli.Txn(ctx).Then(
		clientv3.OpGet(k.members(), clientv3.WithPrefix()),
		clientv3.OpGet(k.desiredAll(), clientv3.WithPrefix()),
		clientv3.OpGet(k.committedAll(), clientv3.WithPrefix()),
		clientv3.OpGet(k.reportsOf(stateStaged, n.cfg.Node), clientv3.WithPrefix()),
		clientv3.OpGet(k.reportsOf(stateApplied, n.cfg.Node), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return 0, err
	}
	n.answered()
	problems := map[string]string{}
	peers, members := map[string]string{}, []string{}
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		node, err := k.nodeOf(k.members(), kv.Key)
		if err != nil {
			problems[string(kv.Key)] = err.Error()
			continue
		}
		m, err := decodeValue[memberValue](kv.Key, kv.Value)
		if err != nil {
			problems[string(kv.Key)] = err.Error()
			continue
		}
		members = append(members, node)
		if node != n.cfg.Node {
			peers[node] = m.Peer
		}
	}
	sort.Strings(members)
	type read struct {
		d    *release
		dRev int64
		c    *commit
		bad  []string
	}
	seen := map[string]*read{}
	at := func(ref string) *read {
		if seen[ref] == nil {
			seen[ref] = &read{}
		}
		return seen[ref]
	}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		ref, err := k.refOf(k.desiredAll(), kv.Key)
		if err != nil {
			problems[string(kv.Key)] = err.Error()
			continue
		}
		r := at(ref)
		if d, err := decodeValue[release](kv.Key, kv.Value); err != nil {
			r.bad = append(r.bad, err.Error())
		} else {
			r.d, r.dRev = &d, kv.ModRevision
		}
	}
	for _, kv := range resp.Responses[2].GetResponseRange().Kvs {
		ref, err := k.refOf(k.committedAll(), kv.Key)
		if err != nil {
			problems[string(kv.Key)] = err.Error()
			continue
		}
		r := at(ref)
		if c, err := decodeValue[commit](kv.Key, kv.Value); err != nil {
			r.bad = append(r.bad, err.Error())
		} else {
			r.c = &c
		}
	}
	mine := map[state]map[string]reportValue{stateStaged: {}, stateApplied: {}}
	for i, s := range []state{stateStaged, stateApplied} {
		for _, kv := range resp.Responses[3+i].GetResponseRange().Kvs {
			_, ref, err := k.reportOf(s, kv.Key)
			if err != nil {
				continue
			}
			if r, err := decodeValue[reportValue](kv.Key, kv.Value); err == nil {
				mine[s][ref] = r
			}
		}
	}

	n.mu.Lock()
	n.readAt = time.Now()
	for key, p := range problems {
		if n.problems[key] != p {
			n.cfg.Log.Warn("cluster: unreadable key", "err", p)
		}
	}
	n.problems = problems
	n.peers, n.members = peers, members
	lease := clientv3.LeaseID(0)
	if n.session != nil {
		lease = n.session.Lease()
	}
	for ref := range seen {
		n.ref(ref)
	}
	var start []string
	for ref, rs := range n.refs {
		r := seen[ref]
		if r == nil {
			r = &read{}
		}
		bad := joinProblems(r.bad)
		if bad != "" && bad != rs.bad {
			n.cfg.Log.Warn("cluster: a value of this ref in etcd cannot be read; the ref keeps what it serves", "ref", ref, "err", bad)
		}
		rs.bad = bad
		// A value that cannot be read leaves what was last read; a key
		// that is gone is gone.
		if r.d != nil || len(r.bad) == 0 {
			rs.desired, rs.desiredRev = r.d, r.dRev
		}
		if r.c != nil || len(r.bad) == 0 {
			if r.c != nil && (rs.committed == nil || rs.committed.Gen != r.c.Gen || rs.committed.Snapshot != r.c.Snapshot) {
				rs.seenAt = time.Now()
			}
			rs.committed = r.c
		}
		// A report etcd lost or never got (a new lease, a restore) is
		// written again by the worker.
		if rs.staged.Gen > 0 && mine[stateStaged][ref] != rs.staged {
			rs.putStaged = 0
		}
		if rs.applied.Gen > 0 && !sameReport(mine[stateApplied][ref], rs.applied) {
			rs.putApplied = 0
		}
		if rs.putStaged != lease {
			rs.putStaged = 0
		}
		if rs.putApplied != lease {
			rs.putApplied = 0
		}
		if !rs.started {
			start = append(start, ref)
		}
		select {
		case rs.wake <- struct{}{}:
		default:
		}
	}
	for _, ref := range start {
		rs := n.refs[ref]
		rs.started = true
		n.wg.Add(1)
		go n.work(ref, rs)
	}
	n.mu.Unlock()
	n.takeOver(ctx)
	return resp.Header.Revision, nil
}

// sameReport compares reports as etcd keeps them (At loses its monotonic
// reading in JSON).
func sameReport(a, b reportValue) bool {
	return a.Gen == b.Gen && a.Snapshot == b.Snapshot && a.At.Equal(b.At)
}

func joinProblems(p []string) string {
	s := ""
	for i, x := range p {
		if i > 0 {
			s += "; "
		}
		s += x
	}
	return s
}

// work stages and applies ref each time it is woken, until Close.
func (n *Node) work(ref string, rs *refState) {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-rs.wake:
		}
		err := n.step(ref, rs)
		n.mu.Lock()
		msg := ""
		if err != nil && n.ctx.Err() == nil {
			msg = err.Error()
			if msg != rs.err {
				n.cfg.Log.Warn("cluster: reconcile", "ref", ref, "err", err)
			}
		}
		rs.err = msg
		n.mu.Unlock()
	}
}

// step does what ref needs now: stage the desired release, apply the
// committed one, and write any report etcd lacks.
func (n *Node) step(ref string, rs *refState) error {
	n.mu.Lock()
	var d *release
	var c *commit
	if rs.desired != nil {
		x := *rs.desired
		d = &x
	}
	if rs.committed != nil {
		x := *rs.committed
		c = &x
	}
	lease := clientv3.LeaseID(0)
	if n.session != nil {
		lease = n.session.Lease()
	}
	n.mu.Unlock()
	if lease == 0 {
		// Not a member: an evicted or cut-off node keeps serving what it
		// has and reports nothing (a put without a lease would outlive
		// the node).
		return nil
	}
	var errs []error
	if d != nil {
		if err := n.stage(ref, rs, *d, lease); err != nil {
			errs = append(errs, fmt.Errorf("stage generation %d (%s): %w", d.Gen, shortOrNone(d.Snapshot), err))
		}
	}
	if err := n.apply(ref, rs, c, lease); err != nil {
		gen := uint64(0)
		if c != nil {
			gen = c.Gen
		}
		errs = append(errs, fmt.Errorf("apply generation %d: %w", gen, err))
	}
	return errors.Join(errs...)
}

// stage pulls the desired snapshot if this store lacks it, serves its
// assets ahead (lookahead), then says so. A withdrawal stages the
// committed snapshot again (or nothing), which drops the withdrawn
// lookahead.
func (n *Node) stage(ref string, rs *refState, d release, lease clientv3.LeaseID) error {
	n.mu.Lock()
	done := rs.staged.matches(d.Gen, d.Snapshot) && rs.putStaged == lease
	applied := rs.applied
	n.mu.Unlock()
	if done {
		return nil
	}
	if d.Gen < applied.Gen && !rs.staged.matches(d.Gen, d.Snapshot) {
		// etcd desires less than this node applied (a restore): nothing to
		// stage; apply says why.
		return nil
	}
	if !d.Snapshot.IsZero() && !d.Withdrawn {
		st := n.local.Store()
		if _, err := st.Snapshot(d.Snapshot); errors.Is(err, store.ErrNotFound) {
			if err := n.pullRelease(n.ctx, ref, d.Gen, d.Snapshot, d.Origin, d.Node); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if n.needsPrev(ref, d.Prev) {
			if _, err := st.Snapshot(d.Prev); errors.Is(err, store.ErrNotFound) {
				if err := n.pull(n.ctx, ref, d.Gen, d.Prev, d.Origin); err != nil {
					// Carry-over of the previous release is worth a
					// pull, not holding the release up.
					n.cfg.Log.Warn("cluster: could not pull the previous release for carry-over", "ref", ref, "snapshot", d.Prev.Short(), "err", err)
				}
			}
		}
		if err := n.allowed(n.ctx, ref, d.Snapshot, d.Origin); err != nil {
			return fmt.Errorf("refusing to stage: %w", err)
		}
		n.adoptLabels(d.Snapshot, d.Labels)
	}
	if d.Gen > applied.Gen {
		n.local.Lookahead(ref, d.Snapshot)
	}
	r := reportValue{Gen: d.Gen, Snapshot: d.Snapshot}
	if err := n.report(stateStaged, ref, r, lease); err != nil {
		return err
	}
	n.mu.Lock()
	if rs.staged != r {
		rs.stagedAt = time.Now()
	}
	rs.staged, rs.putStaged = r, lease
	n.mu.Unlock()
	return nil
}

// adoptLabels gives the staged snapshot the labels it has on the origin,
// where they are free here: labels are known fleet-wide, so `activate v42
// --cluster` works from any member that holds v42.
func (n *Node) adoptLabels(id store.Ref, labels []string) {
	st := n.local.Store()
	info, err := st.Snapshot(id)
	if err != nil {
		return
	}
	for _, l := range labels {
		if slices.Contains(info.Labels, l) {
			continue
		}
		switch err := st.AddLabel(id, l); {
		case err == nil:
		case errors.Is(err, store.ErrLabelTaken):
			n.cfg.Log.Warn("cluster: the origin's label names another snapshot here; kept as it is", "label", l, "snapshot", id.Short())
		default:
			n.cfg.Log.Warn("cluster: label", "label", l, "err", err)
		}
	}
}

// report writes this node's state/<node>/<ref> on its lease.
func (n *Node) report(s state, ref string, r reportValue, lease clientv3.LeaseID) error {
	v, err := encodeValue(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(n.ctx), readTimeout)
	defer cancel()
	if _, err := n.cli.Put(ctx, n.keys.report(s, n.cfg.Node, ref), v, clientv3.WithLease(lease)); err != nil {
		n.failed(err)
		return fmt.Errorf("etcd: %w", err)
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

// apply activates the committed release locally, then says so; hooks run
// after that, off the readiness path. A commit older than what this node
// applied (etcd restored from a backup) is not applied: the node keeps
// serving what it has and says etcd is behind.
func (n *Node) apply(ref string, rs *refState, c *commit, lease clientv3.LeaseID) error {
	n.mu.Lock()
	mem := rs.applied
	put := rs.putApplied == lease
	n.mu.Unlock()
	behind := ""
	switch {
	case c == nil && mem.Gen > 0:
		behind = fmt.Sprintf("etcd has no committed release of %s; this node applied generation %d (%s) and keeps serving it", ref, mem.Gen, shortOrNone(mem.Snapshot))
	case c != nil && c.Gen < mem.Gen:
		behind = fmt.Sprintf("etcd is behind this node (restored?): it commits generation %d (%s) of %s, this node applied generation %d (%s) and keeps serving it",
			c.Gen, c.Snapshot.Short(), ref, mem.Gen, shortOrNone(mem.Snapshot))
	}
	n.mu.Lock()
	if behind != rs.behind && behind != "" {
		n.cfg.Log.Warn("cluster: "+behind, "ref", ref)
	}
	rs.behind = behind
	n.mu.Unlock()
	if c == nil || c.Gen < mem.Gen || (c.Gen == mem.Gen && c.Snapshot == mem.Snapshot) {
		// Nothing to switch; etcd hears what this node applied, so that
		// the next release goes above it.
		if mem.Gen == 0 || put {
			return nil
		}
		if err := n.report(stateApplied, ref, mem, lease); err != nil {
			return err
		}
		n.mu.Lock()
		rs.putApplied = lease
		n.mu.Unlock()
		return nil
	}
	if c.Gen == mem.Gen {
		n.cfg.Log.Warn("cluster: etcd's generation names another snapshot than this node applied under it (etcd restored, then released again?); following etcd",
			"ref", ref, "gen", c.Gen, "etcd", c.Snapshot.Short(), "applied", mem.Snapshot.Short())
	}
	st := n.local.Store()
	if _, err := st.Snapshot(c.Snapshot); errors.Is(err, store.ErrNotFound) {
		// Never staged here (this node was away for the whole release).
		if err := n.pull(n.ctx, ref, c.Gen, c.Snapshot, ""); err != nil {
			return err
		}
	}
	if err := n.allowed(n.ctx, ref, c.Snapshot, ""); err != nil {
		return fmt.Errorf("refusing to apply: %w", err)
	}
	n.adoptLabels(c.Snapshot, c.Labels)
	who := snapshot.Who{UID: c.UID, User: c.User}
	if n.needsPrev(ref, c.Prev) && c.Prev != c.Snapshot {
		// Carry-over comes only from a snapshot the policy allows.
		if _, err := st.Snapshot(c.Prev); err == nil && n.local.Allowed(ref, c.Prev) == nil {
			// Catching up: the previous release first, so that the log
			// carries its assets over for the grace window.
			if _, _, err := n.local.Switch(n.ctx, ref, c.Prev, who, n.reason(*c, "the previous release, for carry-over")); err != nil {
				return err
			}
		}
	}
	e, changed, err := n.local.Switch(n.ctx, ref, c.Snapshot, who, n.reason(*c, ""))
	if err != nil {
		return err
	}
	r := reportValue{Gen: c.Gen, Snapshot: c.Snapshot, At: time.Now().UTC()}
	n.mu.Lock()
	rs.applied, rs.behind = r, ""
	n.mu.Unlock()
	if err := n.remember(); err != nil {
		return err
	}
	if changed {
		n.cfg.Log.Info("cluster: applied", "ref", ref, "gen", c.Gen, "snapshot", c.Snapshot.Short(), "by", c.User, "uid", c.UID, "on", c.Node, "reason", strconv.Quote(c.Reason))
	}
	err = n.report(stateApplied, ref, r, lease)
	if err == nil {
		n.mu.Lock()
		rs.putApplied = lease
		n.mu.Unlock()
	}
	if changed {
		// After the report: a hook (a CDN purge, seconds) never keeps a
		// node from saying it serves the release. One runner, in order.
		select {
		case n.hooks <- e:
		default:
			n.cfg.Log.Error("cluster: hooks are that far behind; this activation's are skipped", "ref", ref, "to", c.Snapshot.Short(), "queued", cap(n.hooks))
		}
	}
	return err
}

// runHooks runs the node's hooks of each activation the cluster made, one
// after another, until Close.
func (n *Node) runHooks() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case e := <-n.hooks:
			n.local.RunHooks(e)
		}
	}
}

// reason is what every node's activation log says of a cluster release:
// the operator's reason, and where it came from.
func (n *Node) reason(c commit, what string) string {
	s := fmt.Sprintf("cluster %s generation %d from %s", n.cfg.Name, c.Gen, c.Node)
	if what != "" {
		s += ": " + what
	}
	if c.Reason != "" {
		s = c.Reason + " (" + s + ")"
	}
	return s
}

func shortOrNone(r store.Ref) string {
	if r.IsZero() {
		return "none"
	}
	return r.Short()
}
