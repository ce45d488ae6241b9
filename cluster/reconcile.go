package cluster

import (
	"context"
	"errors"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Reconciling: one loop (run) keeps the membership and reads etcd; each
// ref has a worker of its own that stages and applies it, so a ref whose
// pull is slow or fails holds no other (worker.go).

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
