package cluster

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/store"
)

// Orphaned releases: a release whose coordinator left between stage and
// commit is finished (committed, or withdrawn) by another member.

// takeOver finishes a release whose coordinator is gone: its node is no
// longer a member (or is this node, restarted), and the release was
// neither committed nor withdrawn. Once every member staged it, it is
// committed; if they have not one lease after this node first saw it
// orphaned, it is withdrawn. Both by a transaction guarded by the
// revision of desired read, so any number of members may try: one wins,
// and a coordinator that comes back finds it done.
func (n *Node) takeOver(ctx context.Context) {
	type orphan struct {
		ref string
		d   release
		rev int64
		c   *commit
		old bool // seen orphaned for a lease already
	}
	var orphans []orphan
	lease := time.Duration(n.cfg.SessionTTL) * time.Second
	n.mu.Lock()
	members := n.members
	for ref, rs := range n.refs {
		d := rs.desired
		if d == nil || d.Withdrawn || (rs.committed != nil && rs.committed.Gen >= d.Gen) ||
			(d.Node == n.cfg.Node && (n.coordinating[ref] > 0 || n.wrote[ref] == d.Gen)) ||
			(d.Node != n.cfg.Node && slices.Contains(members, d.Node)) {
			rs.orphanGen = 0
			continue
		}
		if rs.orphanGen != d.Gen {
			rs.orphanGen, rs.orphanAt = d.Gen, time.Now()
		}
		var c *commit
		if rs.committed != nil {
			x := *rs.committed
			c = &x
		}
		orphans = append(orphans, orphan{ref, *d, rs.desiredRev, c, time.Since(rs.orphanAt) > lease})
	}
	n.mu.Unlock()
	for _, o := range orphans {
		staged, rev, err := n.reported(ctx, stateStaged, o.ref, o.d.Gen, o.d.Snapshot)
		if err != nil {
			continue
		}
		missing := missingOf(members, staged)
		switch {
		case len(missing) == 0:
			err := n.commitRelease(ctx, o.ref, o.d, o.rev, rev, members)
			if err == nil {
				n.cfg.Log.Warn("cluster: committed a release whose coordinator left", "ref", o.ref, "gen", o.d.Gen, "snapshot", o.d.Snapshot.Short(), "coordinator", o.d.Node)
				if n.cfg.ReleaseHooks != nil {
					// This node coordinates now: the cluster hooks run here,
					// once every member applied it.
					n.wg.Add(1)
					go func() {
						defer n.wg.Done()
						n.afterRelease(o.ref, o.d)
					}()
				}
			}
		case o.old:
			if err := n.withdraw(ctx, o.ref, o.d.Gen, o.rev, o.c, fmt.Sprintf("withdrawn by %s: its coordinator %s left and %v did not stage it", n.cfg.Node, o.d.Node, missing)); err == nil {
				n.cfg.Log.Warn("cluster: withdrew a release whose coordinator left", "ref", o.ref, "gen", o.d.Gen, "coordinator", o.d.Node, "missing", missing)
			}
		}
	}
}

// releaseHookWait bounds how long a member that finished an orphaned
// release waits for every member to apply it before the cluster hooks.
const releaseHookWait = time.Minute

// afterRelease runs the cluster hooks of a release this node finished for
// a coordinator that left, once every member applied it.
func (n *Node) afterRelease(ref string, d release) {
	ctx, cancel := context.WithTimeout(n.ctx, releaseHookWait)
	defer cancel()
	var res ctl.ClusterActivation
	if _, _, err := n.waitAll(ctx, stateApplied, ref, d.Gen, d.Snapshot, 0, &res); err != nil || len(res.Missing) > 0 {
		if n.ctx.Err() == nil {
			n.cfg.Log.Warn("cluster: the cluster hooks of a release this node finished did not run: not every member applied it", "ref", ref, "gen", d.Gen, "missing", res.Missing, "err", err)
		}
		return
	}
	n.cfg.ReleaseHooks(store.LogEntry{Time: time.Now().UTC(), Ref: ref, From: d.Prev, To: d.Snapshot, UID: d.UID, User: d.User, Reason: d.Reason})
}

// missingOf lists the members not in done.
func missingOf(members []string, done map[string]bool) []string {
	out := []string{}
	for _, m := range members {
		if !done[m] {
			out = append(out, m)
		}
	}
	return out
}
