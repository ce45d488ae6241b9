package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/store"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The coordinator: the node an activation was asked of writes the next
// generation as desired, waits for every member to stage it, commits it
// in one guarded transaction, and waits for every member to apply it.

// abortTimeout bounds the withdrawal of a release after its wait ended.
const abortTimeout = 5 * time.Second

// Activate asks the cluster to serve snapshot r.ID under r.Ref. It returns
// when every member applied it, or when r.Wait ends, naming the members
// that did not (and those that served the last release and left since).
func (n *Node) Activate(ctx context.Context, r ctl.ClusterRelease) (ctl.ClusterActivation, error) {
	res := ctl.ClusterActivation{Ref: r.Ref, Snapshot: r.ID, Members: []string{}, Missing: []string{}, Left: []string{}, HookFailures: []string{}}
	if err := store.CheckLabel(r.Ref); err != nil {
		return res, err
	}
	if err := checkWho(n.cfg.Node, r.Who.UID, r.Who.User, r.Reason); err != nil {
		return res, fmt.Errorf("cluster activate: %v: %w", err, store.ErrInvalid)
	}
	info, err := n.local.Store().Snapshot(r.ID)
	if err != nil {
		return res, fmt.Errorf("cluster activate: the node asked coordinates the release and must hold the snapshot: %w", err)
	}
	ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), r.Wait)
	defer cancel()
	defer context.AfterFunc(n.ctx, cancel)() // Close ends it too
	// A node between two sessions (its lease lapsed while etcd was out
	// of reach) joins again at once: wait for it, within the wait.
	for n.lease() == 0 {
		n.nudge()
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("cluster activate: this node is not a member now (%s): %w", n.notMember(), ctl.ErrEtcd)
		case <-time.After(100 * time.Millisecond):
		}
	}
	n.mu.Lock()
	n.coordinating[r.Ref]++
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.coordinating[r.Ref]--
		n.mu.Unlock()
	}()

	prior, err := n.readPrior(ctx, r.Ref)
	if err != nil {
		return res, n.etcdError(err, r.Wait)
	}
	if prior.next > MaxGen {
		return res, fmt.Errorf("cluster activate %s: generation %d would pass the limit of 2^53: %w", r.Ref, prior.next, store.ErrInvalid)
	}
	d := release{Gen: prior.next, Snapshot: r.ID, Origin: n.cfg.Peer, Node: n.cfg.Node, Reason: r.Reason,
		UID: r.Who.UID, User: r.Who.User, Labels: info.Labels}
	if prior.committed != nil {
		d.Prev = prior.committed.Snapshot
	}
	res.Gen = d.Gen
	dv, err := encodeValue(d)
	if err != nil {
		return res, err
	}
	key := n.keys.desired(r.Ref)
	put, err := n.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", prior.desiredRev)).Then(clientv3.OpPut(key, dv)).Commit()
	if err != nil {
		return res, n.etcdError(err, r.Wait)
	}
	if !put.Succeeded {
		return res, fmt.Errorf("cluster activate %s: desired changed since it was read: %w", r.Ref, ctl.ErrConflict)
	}
	desiredRev := put.Header.Revision
	n.mu.Lock()
	n.wrote[r.Ref] = d.Gen
	n.mu.Unlock()
	n.cfg.Log.Info("cluster: release desired", "ref", r.Ref, "gen", d.Gen, "snapshot", r.ID.Short(), "uid", r.Who.UID, "user", r.Who.User)
	n.nudge()

	// Phase one: every member staged this generation of this snapshot.
	start := time.Now()
	members, membersRev, err := n.waitAll(ctx, stateStaged, r.Ref, d.Gen, r.ID, desiredRev, &res)
	if err != nil {
		return res, err
	}
	if len(res.Missing) > 0 {
		if r.Abort {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
			defer cancel()
			err := n.withdraw(actx, r.Ref, d.Gen, desiredRev, prior.committed, fmt.Sprintf("aborted: %s did not stage it within %s", strings.Join(res.Missing, ", "), r.Wait))
			if err == nil {
				n.cfg.Log.Warn("cluster: release aborted", "ref", r.Ref, "gen", d.Gen, "missing", res.Missing)
			}
			return res, err
		}
		return res, nil
	}
	res.Phases.Stage = time.Since(start).String()

	// The flip: one transaction, refused if desired changed or a member
	// joined since the staging was read.
	start = time.Now()
	if err := n.commitRelease(ctx, r.Ref, d, desiredRev, membersRev, members); err != nil {
		if !errors.Is(err, ctl.ErrConflict) {
			return res, n.etcdError(err, r.Wait)
		}
		// Another member may have finished it (this node was stopped
		// longer than its lease): then it is committed all the same.
		if c, cerr := n.readCommitted(ctx, r.Ref); cerr != nil || c == nil || c.Gen != d.Gen || c.Snapshot != r.ID {
			return res, err
		}
	}
	res.Committed = true
	res.Phases.Decide = time.Since(start).String()
	n.nudge()

	// Phase two: every member applied it.
	start = time.Now()
	if _, _, err := n.waitAll(ctx, stateApplied, r.Ref, d.Gen, r.ID, 0, &res); err != nil {
		return res, err
	}
	for _, m := range prior.served {
		if !slices.Contains(res.Members, m) && !prior.evicted[m] {
			res.Left = append(res.Left, m)
		}
	}
	if len(res.Missing) > 0 {
		return res, nil
	}
	res.Phases.Apply = time.Since(start).String()
	if spread, err := n.flipSpread(ctx, r.Ref, d.Gen, r.ID); err == nil {
		res.Phases.FlipSpread = spread.String()
	}
	if n.cfg.ReleaseHooks != nil {
		res.HookFailures = append(res.HookFailures, n.cfg.ReleaseHooks(store.LogEntry{Time: time.Now().UTC(), Ref: r.Ref, From: d.Prev, To: r.ID,
			UID: r.Who.UID, User: r.Who.User, Reason: r.Reason})...)
	}
	return res, nil
}

// prior is what an activation reads before it writes desired.
type prior struct {
	desiredRev int64   // 0: no desired key
	committed  *commit // nil: none, or unreadable
	next       uint64  // the generation to write: above every one seen
	served     []string
	evicted    map[string]bool
}

// readPrior reads, in one transaction, everything that names a generation
// of ref: desired, committed, the last history entry and every member's
// reports. The next generation is above all of them, so that no
// generation is ever used twice: not after an abort, a deleted key, or
// etcd restored from a backup (members report what they applied).
func (n *Node) readPrior(ctx context.Context, ref string) (prior, error) {
	k := n.keys
	p := prior{evicted: map[string]bool{}}
	resp, err := n.cli.Txn(ctx).Then(
		clientv3.OpGet(k.desired(ref)),
		clientv3.OpGet(k.committed(ref)),
		clientv3.OpGet(k.historyOf(ref), clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(1), clientv3.WithKeysOnly()),
		clientv3.OpGet(k.reports(stateStaged), clientv3.WithPrefix()),
		clientv3.OpGet(k.reports(stateApplied), clientv3.WithPrefix()),
		clientv3.OpGet(k.evictedAll(), clientv3.WithPrefix(), clientv3.WithKeysOnly()),
	).Commit()
	if err != nil {
		return p, err
	}
	var top uint64
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		p.desiredRev = kv.ModRevision
		if d, err := decodeValue[release](kv.Key, kv.Value); err == nil {
			top = max(top, d.Gen)
		} else {
			// Overwritten (guarded by its revision) above the others.
			n.cfg.Log.Warn("cluster: replacing an unreadable desired value", "err", err)
		}
	}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		c, err := decodeValue[commit](kv.Key, kv.Value)
		if err != nil {
			return p, fmt.Errorf("cluster activate %s: %w", ref, err)
		}
		p.committed = &c
		p.served = c.Members
		top = max(top, c.Gen)
	}
	for _, kv := range resp.Responses[2].GetResponseRange().Kvs {
		var g uint64
		if _, err := fmt.Sscanf(string(kv.Key[len(k.historyOf(ref)):]), "%d", &g); err == nil && g <= MaxGen {
			top = max(top, g)
		}
	}
	for i, s := range []state{stateStaged, stateApplied} {
		for _, kv := range resp.Responses[3+i].GetResponseRange().Kvs {
			if _, r, err := k.reportOf(s, kv.Key); err != nil || r != ref {
				continue
			}
			if v, err := decodeValue[reportValue](kv.Key, kv.Value); err == nil {
				top = max(top, v.Gen)
			}
		}
	}
	for _, kv := range resp.Responses[5].GetResponseRange().Kvs {
		if node, err := k.nodeOf(k.evictedAll(), kv.Key); err == nil {
			p.evicted[node] = true
		}
	}
	p.next = top + 1
	return p, nil
}

// readCommitted reads ref's committed release (nil: none).
func (n *Node) readCommitted(ctx context.Context, ref string) (*commit, error) {
	resp, err := n.cli.Get(ctx, n.keys.committed(ref))
	if err != nil || len(resp.Kvs) == 0 {
		return nil, err
	}
	c, err := decodeValue[commit](resp.Kvs[0].Key, resp.Kvs[0].Value)
	return &c, err
}

// commitRelease writes committed/<ref> and its history entry in one
// transaction, guarded by desired's revision (no other activation or
// withdrawal came since), by membership (no member joined since the
// staging was read at membersRev) and by the entry's absence.
func (n *Node) commitRelease(ctx context.Context, ref string, d release, desiredRev, membersRev int64, members []string) error {
	c := commit{Gen: d.Gen, Snapshot: d.Snapshot, Prev: d.Prev, Node: d.Node, Reason: d.Reason, UID: d.UID, User: d.User, Members: members, Labels: d.Labels}
	cv, err := encodeValue(c)
	if err != nil {
		return err
	}
	entry, err := n.nextEntry(ctx, ref, d)
	if err != nil {
		return err
	}
	ev, err := encodeValue(entry)
	if err != nil {
		return err
	}
	hkey := n.keys.history(ref, d.Gen)
	resp, err := n.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.ModRevision(n.keys.desired(ref)), "=", desiredRev),
		clientv3.Compare(clientv3.CreateRevision(n.keys.members()).WithPrefix(), "<", membersRev+1),
		clientv3.Compare(clientv3.CreateRevision(hkey), "=", 0),
	).Then(clientv3.OpPut(n.keys.committed(ref), cv), clientv3.OpPut(hkey, ev)).Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return fmt.Errorf("cluster activate %s generation %d: desired or membership changed before the flip: %w", ref, d.Gen, ctl.ErrConflict)
	}
	return nil
}

// withdraw replaces an uncommitted release of gen with the next
// generation naming the committed snapshot (none if nothing was ever
// committed): a generation is never used twice, and no member goes on
// staging the withdrawn one. Guarded by the revision of desired read.
func (n *Node) withdraw(ctx context.Context, ref string, gen uint64, desiredRev int64, c *commit, reason string) error {
	w := release{Gen: gen + 1, Node: n.cfg.Node, Reason: reason, Withdrawn: true}
	if c != nil {
		w.Snapshot, w.Prev = c.Snapshot, c.Prev
	}
	if w.Gen > MaxGen {
		return fmt.Errorf("withdraw %s generation %d: past the limit: %w", ref, gen, store.ErrInvalid)
	}
	v, err := encodeValue(w)
	if err != nil {
		return err
	}
	key := n.keys.desired(ref)
	resp, err := n.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", desiredRev)).Then(clientv3.OpPut(key, v)).Commit()
	if err != nil {
		return fmt.Errorf("withdraw %s generation %d: %w: %w", ref, gen, ctl.ErrEtcd, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("withdraw %s generation %d: %w", ref, gen, ctl.ErrConflict)
	}
	n.nudge()
	return nil
}

// reported reads which members reported state for exactly (gen, id) of
// ref, and the revision of the read.
func (n *Node) reported(ctx context.Context, s state, ref string, gen uint64, id store.Ref) (map[string]bool, int64, error) {
	resp, err := n.cli.Get(ctx, n.keys.reports(s), clientv3.WithPrefix())
	if err != nil {
		return nil, 0, err
	}
	done := map[string]bool{}
	for _, kv := range resp.Kvs {
		node, r, err := n.keys.reportOf(s, kv.Key)
		if err != nil || r != ref {
			continue
		}
		if v, err := decodeValue[reportValue](kv.Key, kv.Value); err == nil && v.matches(gen, id) {
			done[node] = true
		}
	}
	return done, resp.Header.Revision, nil
}

// waitAll waits until every member has reported state for (gen, id) of
// ref (applied: or a later generation), or ctx ends; it fills
// res.Members and res.Missing, and returns the members and the revision
// they were read at. Staging ends with a conflict as soon as desired is
// no longer what this activation wrote at desiredRev (a later activation
// or a withdrawal came).
func (n *Node) waitAll(ctx context.Context, s state, ref string, gen uint64, id store.Ref, desiredRev int64, res *ctl.ClusterActivation) ([]string, int64, error) {
	var changes clientv3.WatchChan
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for {
		members, rev, done, drev, err := n.membersAndReports(ctx, s, ref, gen, id)
		if err != nil {
			if ctx.Err() != nil {
				return members, rev, nil
			}
			return nil, 0, n.etcdError(err, 0)
		}
		if desiredRev != 0 && drev != desiredRev {
			return nil, 0, fmt.Errorf("cluster activate %s: generation %d was superseded before every member staged it (another activation, or a withdrawal): %w", ref, gen, ctl.ErrConflict)
		}
		res.Members, res.Missing = members, missingOf(members, done)
		if len(res.Missing) == 0 {
			return members, rev, nil
		}
		if changes == nil {
			// From the revision of the read: nothing falls between. A
			// change of desired, or a member leaving, is seen at the
			// next read, a second at most.
			changes = n.cli.Watch(clientv3.WithRequireLeader(wctx), n.keys.reports(s), clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		}
		select {
		case <-ctx.Done():
			return members, rev, nil
		case w, ok := <-changes:
			if !ok || w.Canceled {
				changes = nil
			}
		case <-time.After(time.Second):
			// A member that leaves changes no report: read again.
		}
	}
}

// membersAndReports reads the live members, their reports of (gen, id)
// of ref, and desired's revision, in one transaction.
func (n *Node) membersAndReports(ctx context.Context, s state, ref string, gen uint64, id store.Ref) ([]string, int64, map[string]bool, int64, error) {
	resp, err := n.cli.Txn(ctx).Then(
		clientv3.OpGet(n.keys.members(), clientv3.WithPrefix()),
		clientv3.OpGet(n.keys.reports(s), clientv3.WithPrefix()),
		clientv3.OpGet(n.keys.desired(ref), clientv3.WithKeysOnly()),
	).Commit()
	if err != nil {
		return nil, 0, nil, 0, err
	}
	var drev int64
	for _, kv := range resp.Responses[2].GetResponseRange().Kvs {
		drev = kv.ModRevision
	}
	// A member key whose name or value cannot be read is no node of
	// ours (written by hand, or by a bug): waiting for it would hold
	// every release. Status lists it.
	members := []string{}
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		node, err := n.keys.nodeOf(n.keys.members(), kv.Key)
		if err != nil {
			continue
		}
		if _, err := decodeValue[memberValue](kv.Key, kv.Value); err == nil {
			members = append(members, node)
		}
	}
	sort.Strings(members)
	done := map[string]bool{}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		node, r, err := n.keys.reportOf(s, kv.Key)
		if err != nil || r != ref {
			continue
		}
		v, err := decodeValue[reportValue](kv.Key, kv.Value)
		if err == nil && (v.matches(gen, id) || (s == stateApplied && v.Gen > gen)) {
			done[node] = true
		}
	}
	return members, resp.Header.Revision, done, drev, nil
}

// flipSpread reads when each member applied generation gen of ref and
// returns the time between the first and the last.
func (n *Node) flipSpread(ctx context.Context, ref string, gen uint64, id store.Ref) (time.Duration, error) {
	resp, err := n.cli.Get(ctx, n.keys.reports(stateApplied), clientv3.WithPrefix())
	if err != nil {
		return 0, err
	}
	var first, last time.Time
	for _, kv := range resp.Kvs {
		_, r, err := n.keys.reportOf(stateApplied, kv.Key)
		if err != nil || r != ref {
			continue
		}
		g, err := decodeValue[reportValue](kv.Key, kv.Value)
		if err != nil || !g.matches(gen, id) || g.At.IsZero() {
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

// etcdError names etcd as what did not answer, with its own kind (not
// "unavailable", which means vfsd is stopping).
func (n *Node) etcdError(err error, wait time.Duration) error {
	n.failed(err)
	if errors.Is(err, context.DeadlineExceeded) && wait > 0 {
		return fmt.Errorf("cluster activate: etcd did not answer within %s (is it running and reachable?): %w", wait, ctl.ErrEtcd)
	}
	if errors.Is(err, store.ErrCorrupt) || errors.Is(err, ctl.ErrConflict) || errors.Is(err, ctl.ErrEtcd) {
		return err
	}
	return fmt.Errorf("cluster: etcd: %w: %w", ctl.ErrEtcd, err)
}

// notMember says why this node is not a member now.
func (n *Node) notMember() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.evicted != "":
		return n.evicted
	case !n.failing.IsZero():
		return fmt.Sprintf("etcd unreachable since %s: %s", n.failing.Format(time.RFC3339), n.etcdErr)
	}
	return "its lease lapsed; joining again"
}
