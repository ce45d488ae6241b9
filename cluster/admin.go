package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/store"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Admin: evicting and admitting members, and the cluster's status.

// Evict takes node out of the cluster: evicted/<node> first, so that it
// cannot join again, then its membership lease is revoked, which removes
// its membership, staged and applied keys at once.
func (n *Node) Evict(ctx context.Context, node, reason string) error {
	if err := checkNode(node); err != nil {
		return err
	}
	if err := store.CheckText("reason", reason); err != nil {
		return err
	}
	if node == n.cfg.Node {
		return fmt.Errorf("evict %s: a node cannot evict itself; ask another member: %w", node, store.ErrInvalid)
	}
	v, err := encodeValue(Eviction{By: n.cfg.Node, Time: time.Now().UTC(), Reason: reason})
	if err != nil {
		return err
	}
	if _, err := n.cli.Put(ctx, n.keys.evicted(node), v); err != nil {
		return fmt.Errorf("evict %s: %w", node, n.etcdError(err, 0))
	}
	resp, err := n.cli.Get(ctx, n.keys.member(node))
	if err != nil {
		return fmt.Errorf("evict %s: %w", node, n.etcdError(err, 0))
	}
	for _, kv := range resp.Kvs {
		if _, err := n.cli.Revoke(ctx, clientv3.LeaseID(kv.Lease)); err != nil {
			return fmt.Errorf("evict %s: revoke its membership: %w", node, n.etcdError(err, 0))
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
	resp, err := n.cli.Delete(ctx, n.keys.evicted(node))
	if err != nil {
		return fmt.Errorf("admit %s: %w", node, n.etcdError(err, 0))
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("admit %s: not evicted: %w", node, store.ErrNotFound)
	}
	return nil
}

// statusTimeout bounds Status's read of etcd: past it, the answer is the
// last state this node read, and says since when etcd is unreachable.
const statusTimeout = 3 * time.Second

// Status reads the cluster's keys (not its history) and asks each member
// whether it is ready. With etcd out of reach it answers within seconds
// all the same: etcd unreachable since when, and the last state read.
func (n *Node) Status(ctx context.Context) (ctl.ClusterStatus, error) {
	rctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), statusTimeout)
	defer cancel()
	s, err := n.readStatus(rctx)
	if err != nil {
		n.failed(err)
		c := n.lastKnown()
		n.mu.Lock()
		since, why := n.failing, n.etcdErr
		n.mu.Unlock()
		if since.IsZero() {
			since, why = time.Now(), err.Error()
		}
		c.Etcd = fmt.Sprintf("unreachable since %s (%s ago): %s", since.Format(time.RFC3339), time.Since(since).Round(time.Second), why)
		s = c
	} else if b, err := json.Marshal(s); err == nil {
		n.mu.Lock()
		n.status = b
		n.mu.Unlock()
	}
	n.addLocal(&s)
	n.askMembers(ctx, &s)
	return s, nil
}

// lastKnown is the state this node last read: members and releases from
// its last reconcile, the members' reports from the last status read.
func (n *Node) lastKnown() ctl.ClusterStatus {
	s := ctl.ClusterStatus{}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.status != nil {
		json.Unmarshal(n.status, &s)
	}
	s.Cluster, s.Node = n.cfg.Name, n.cfg.Node
	s.Members, s.Nodes = map[string]string{}, map[string]ctl.ClusterMember{}
	s.Desired, s.Committed, s.Refs = map[string]uint64{}, map[string]uint64{}, map[string]ctl.ClusterRef{}
	for _, m := range n.members {
		p := n.peers[m]
		if m == n.cfg.Node {
			p = n.cfg.Peer
		}
		s.Members[m] = p
		s.Nodes[m] = ctl.ClusterMember{Peer: p, Refs: map[string]ctl.ClusterMemberRef{}}
	}
	for ref, rs := range n.refs {
		var r ctl.ClusterRef
		if d := rs.desired; d != nil {
			s.Desired[ref] = d.Gen
			r.Desired, r.Withdrawn, r.DesiredBy = d.Snapshot, d.Withdrawn, who(d.Node, d.UID, d.User)
		}
		if c := rs.committed; c != nil {
			s.Committed[ref] = c.Gen
			r.Committed, r.Reason = c.Snapshot, c.Reason
		}
		s.Refs[ref] = r
	}
	return s
}

// readStatus reads every key but the history.
func (n *Node) readStatus(ctx context.Context) (ctl.ClusterStatus, error) {
	k := n.keys
	s := ctl.ClusterStatus{Cluster: n.cfg.Name, Node: n.cfg.Node, Members: map[string]string{}, Desired: map[string]uint64{},
		Committed: map[string]uint64{}, Staged: map[string]map[string]uint64{}, Applied: map[string]map[string]uint64{},
		Evicted: map[string]ctl.Eviction{}, Refs: map[string]ctl.ClusterRef{}, Nodes: map[string]ctl.ClusterMember{}, Problems: []string{}}
	resp, err := n.cli.Txn(ctx).Then(
		clientv3.OpGet(k.members(), clientv3.WithPrefix()),
		clientv3.OpGet(k.desiredAll(), clientv3.WithPrefix()),
		clientv3.OpGet(k.committedAll(), clientv3.WithPrefix()),
		clientv3.OpGet(k.reports(stateStaged), clientv3.WithPrefix()),
		clientv3.OpGet(k.reports(stateApplied), clientv3.WithPrefix()),
		clientv3.OpGet(k.evictedAll(), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return s, err
	}
	s.AsOf = time.Now().UTC()
	bad := func(err error) { s.Problems = append(s.Problems, err.Error()) }
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		node, err := k.nodeOf(k.members(), kv.Key)
		if err != nil {
			bad(err)
			continue
		}
		m, err := decodeValue[memberValue](kv.Key, kv.Value)
		if err != nil {
			bad(err)
			continue
		}
		s.Members[node] = m.Peer
		s.Nodes[node] = ctl.ClusterMember{Peer: m.Peer, Refs: map[string]ctl.ClusterMemberRef{}}
	}
	refOf := func(ref string) ctl.ClusterRef { return s.Refs[ref] }
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		ref, err := k.refOf(k.desiredAll(), kv.Key)
		if err != nil {
			bad(err)
			continue
		}
		d, err := decodeValue[release](kv.Key, kv.Value)
		r := refOf(ref)
		if err != nil {
			r.Problem = err.Error()
		} else {
			s.Desired[ref] = d.Gen
			r.Desired, r.Withdrawn, r.DesiredBy = d.Snapshot, d.Withdrawn, who(d.Node, d.UID, d.User)
		}
		s.Refs[ref] = r
	}
	for _, kv := range resp.Responses[2].GetResponseRange().Kvs {
		ref, err := k.refOf(k.committedAll(), kv.Key)
		if err != nil {
			bad(err)
			continue
		}
		c, err := decodeValue[commit](kv.Key, kv.Value)
		r := refOf(ref)
		if err != nil {
			r.Problem = err.Error()
		} else {
			s.Committed[ref] = c.Gen
			r.Committed, r.Reason = c.Snapshot, c.Reason
		}
		s.Refs[ref] = r
	}
	for i, st := range []state{stateStaged, stateApplied} {
		gens := s.Staged
		if st == stateApplied {
			gens = s.Applied
		}
		for _, kv := range resp.Responses[3+i].GetResponseRange().Kvs {
			node, ref, err := k.reportOf(st, kv.Key)
			if err != nil {
				bad(err)
				continue
			}
			v, err := decodeValue[reportValue](kv.Key, kv.Value)
			if err != nil {
				bad(err)
				continue
			}
			if gens[node] == nil {
				gens[node] = map[string]uint64{}
			}
			gens[node][ref] = v.Gen
			m, ok := s.Nodes[node]
			if !ok {
				continue // a report of a node whose lease is ending
			}
			mr := m.Refs[ref]
			if st == stateStaged {
				mr.Staged = v.Snapshot
			} else {
				mr.Applied = v.Snapshot
			}
			m.Refs[ref] = mr
		}
	}
	for _, kv := range resp.Responses[5].GetResponseRange().Kvs {
		node, err := k.nodeOf(k.evictedAll(), kv.Key)
		if err != nil {
			bad(err)
			continue
		}
		ev, err := decodeValue[Eviction](kv.Key, kv.Value)
		if err != nil {
			bad(err)
			continue
		}
		s.Evicted[node] = ctl.Eviction{By: ev.By, Time: ev.Time, Reason: ev.Reason}
	}
	return s, nil
}

// who names the operator of a release.
func who(node string, uid int, user string) string {
	if user == "" {
		user = fmt.Sprintf("uid %d", uid)
	}
	return user + " on " + node
}

// addLocal adds what only this node knows: its last reconcile failure per
// ref, and whether etcd is behind it.
func (n *Node) addLocal(s *ctl.ClusterStatus) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s.Refs == nil {
		s.Refs = map[string]ctl.ClusterRef{}
	}
	var errs []string
	for ref, rs := range n.refs {
		r := s.Refs[ref]
		r.Behind = rs.behind
		if rs.bad != "" && r.Problem == "" {
			r.Problem = rs.bad
		}
		if rs.err != "" {
			errs = append(errs, ref+": "+rs.err)
		}
		if r != (ctl.ClusterRef{}) {
			s.Refs[ref] = r
		}
	}
	sort.Strings(errs)
	s.Error = joinProblems(errs)
}

// RefErrors is this node's last failure to stage or apply, per ref.
func (n *Node) RefErrors() map[string]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[string]string{}
	for ref, rs := range n.refs {
		if rs.err != "" {
			out[ref] = rs.err
		}
	}
	return out
}

// askMembers asks every member it knows whether it is ready and what it
// serves (its peer listener's /v1/ready, a second at most each, all at
// once); this node answers for itself.
func (n *Node) askMembers(ctx context.Context, s *ctl.ClusterStatus) {
	if s.Nodes == nil {
		s.Nodes = map[string]ctl.ClusterMember{}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	members := maps.Clone(s.Nodes)
	for node, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r ctl.Readiness
			if node == n.cfg.Node {
				ok, why := n.Ready(ctx)
				refs, _ := n.local.Store().NamedRefs()
				r = ctl.Readiness{Ready: ok, Reason: why, Refs: refs, Errors: n.RefErrors()}
			} else {
				actx, cancel := context.WithTimeout(ctx, time.Second)
				peer := ctl.DialPeer(actx, m.Peer, n.cfg.Peers)
				var err error
				r, err = peer.PeerReady(actx)
				peer.Close()
				cancel()
				if err != nil {
					r = ctl.Readiness{Reason: "no answer from its peer listener: " + err.Error()}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			m.Ready, m.Reason = r.Ready, r.Reason
			if m.Refs == nil {
				m.Refs = map[string]ctl.ClusterMemberRef{}
			}
			for ref, id := range r.Refs {
				if _, managed := s.Refs[ref]; !managed {
					continue
				}
				mr := m.Refs[ref]
				mr.Serves = id
				mr.Drift = !s.Refs[ref].Committed.IsZero() && id != s.Refs[ref].Committed && s.Refs[ref].Behind == ""
				m.Refs[ref] = mr
			}
			for ref, e := range r.Errors {
				if _, managed := s.Refs[ref]; managed {
					mr := m.Refs[ref]
					mr.Error = e
					m.Refs[ref] = mr
				}
			}
			s.Nodes[node] = m
		}()
	}
	wg.Wait()
}
