package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A ref's worker: what it does each time the reconcile loop wakes it
// (stage the desired release, apply the committed one, write the reports
// etcd lacks), and the node hooks that run after an apply.

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
