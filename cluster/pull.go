package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Pulls: a member copies a snapshot it lacks from a peer that holds it,
// by hash; what arrives is checked as an import is.

// A release spreads along a tree. Its members are ordered by a hash of
// the snapshot and their names, after the coordinator (the origin); the
// member at place i pulls from the one at place (i-1)/spreadFanout, once
// that one holds the release, so the origin sends it to spreadFanout
// members and every other member sends it to at most as many. A parent
// that does not hold the release within parentWait, or does not answer,
// is given up and the usual sources are tried: a dead or slow member costs
// its subtree that wait, not the release.
const (
	spreadFanout = 3
	parentWait   = 10 * time.Second
	parentPoll   = 20 * time.Millisecond
)

// pullRelease pulls snapshot id of a release coordinated by coordinator:
// from this node's parent in the release's tree when it gets it in time,
// else as pull does.
func (n *Node) pullRelease(ctx context.Context, ref string, gen uint64, id store.Ref, origin, coordinator string) error {
	if parent := n.parent(id, coordinator); parent != "" && n.waitFor(ctx, parent, id) {
		if err := n.pullFrom(ctx, ref, gen, id, []string{parent}); err == nil || ctx.Err() != nil {
			return err
		}
	}
	return n.pull(ctx, ref, gen, id, origin)
}

// parent is the peer address this node pulls release id from, in the
// tree above; "" when that is the origin (pull tries it) or unknown.
func (n *Node) parent(id store.Ref, coordinator string) string {
	n.mu.Lock()
	members, peers := n.members, n.peers
	n.mu.Unlock()
	others := make([]string, 0, len(members))
	for _, m := range members {
		if m != coordinator {
			others = append(others, m)
		}
	}
	key := func(m string) store.Ref { return store.Sum(append(id[:len(id):len(id)], m...)) }
	slices.SortFunc(others, func(a, b string) int { ka, kb := key(a), key(b); return bytes.Compare(ka[:], kb[:]) })
	i := slices.Index(others, n.cfg.Node)
	if i < spreadFanout { // its parent is the origin (or it is no member)
		return ""
	}
	// Place i+1 in the tree whose place 0 is the coordinator.
	return peers[others[i/spreadFanout-1]]
}

// waitFor reports whether the peer at addr holds snapshot id within
// parentWait, asking it every parentPoll; a peer that does not answer is
// given up at once.
func (n *Node) waitFor(ctx context.Context, addr string, id store.Ref) bool {
	ctx, cancel := context.WithTimeout(ctx, parentWait)
	defer cancel()
	peer := ctl.DialPeer(ctx, addr, ctl.PeerOptions{TLS: n.cfg.Peers.TLS, Idle: time.Second})
	defer peer.Close()
	for {
		_, err := peer.Snapshot(id)
		switch {
		case err == nil:
			return true
		case !errors.Is(err, store.ErrNotFound):
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(parentPoll):
		}
	}
}

// pull copies snapshot id from the first source that gives it whole and
// true: origin (if any), then the members that staged or applied it, in
// random order. Objects that fail their check are never recorded
// (snapshot.Pull). A source that fails (stalls, lies, is unreachable) is
// dropped for this pull at once and the next tried; it is then backed off
// (sourceBackoff), so that a bad source costs a retrying member one try
// per backoff, not one per reconcile period.
func (n *Node) pull(ctx context.Context, ref string, gen uint64, id store.Ref, origin string) error {
	srcs, err := n.sources(ctx, id, origin)
	if err != nil {
		return err
	}
	return n.pullFrom(ctx, ref, gen, id, srcs)
}

// pullFrom is pull from the sources srcs, in order.
func (n *Node) pullFrom(ctx context.Context, ref string, gen uint64, id store.Ref, srcs []string) error {
	if len(srcs) == 0 {
		return fmt.Errorf("pull %s: no member holds it", id.Short())
	}
	dst, err := n.target()
	if err != nil {
		return err
	}
	var errs []error
	tried := 0
	for _, addr := range srcs {
		if wait := n.bad.waiting(addr); wait != "" {
			errs = append(errs, fmt.Errorf("from %s: %s", addr, wait))
			continue
		}
		tried++
		src := ctl.DialPeer(ctx, addr, n.cfg.Peers)
		_, stats, err := snapshot.Pull(ctx, src, dst, id, nil)
		src.Close()
		if err == nil {
			n.bad.ok(addr)
			n.cfg.Log.Info("cluster: pulled", "ref", ref, "gen", gen, "snapshot", id.Short(), "from", addr,
				"trees", stats.Trees, "trees_had", stats.TreesHad, "files", stats.Files, "chunks", stats.Chunks,
				"chunk_bytes", stats.BytesFetched, "had", stats.ChunksHad, "received", src.BytesReceived())
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		switch {
		case errors.Is(err, store.ErrCorrupt) || errors.Is(err, store.ErrInvalid):
			n.cfg.Log.Warn("cluster: rejected what a source sent", "ref", ref, "gen", gen, "from", addr, "received", src.BytesReceived(), "err", err)
			if n.cfg.Rejected != nil {
				n.cfg.Rejected()
			}
		case errors.Is(err, ctl.ErrStalled):
			n.cfg.Log.Warn("cluster: a source stalled; trying the next", "ref", ref, "gen", gen, "from", addr, "received", src.BytesReceived(), "err", err)
			if n.cfg.Stalled != nil {
				n.cfg.Stalled()
			}
		}
		if !errors.Is(err, store.ErrNotFound) {
			// A source that lacks the snapshot (not staged yet, or gone)
			// did nothing wrong; every other failure is backed off.
			n.bad.failed(addr, err)
		}
		errs = append(errs, fmt.Errorf("from %s: %w", addr, err))
	}
	if tried == 0 {
		return fmt.Errorf("pull %s: every source failed lately: %w", id.Short(), errors.Join(errs...))
	}
	return fmt.Errorf("pull %s: %w", id.Short(), errors.Join(errs...))
}

// Backoff of a failed source: the first wait, doubled at each failure in a
// row up to the last.
const (
	sourceBackoff    = 5 * time.Second
	sourceBackoffMax = time.Minute
	// maxBadSources bounds the sources remembered (addresses come from
	// etcd, which a node does not trust to be small).
	maxBadSources = 1024
)

// badSources remembers the sources that failed lately.
type badSources struct {
	mu      sync.Mutex
	sources map[string]*badSource
}

type badSource struct {
	failures int
	until    time.Time
	why      string
}

// waiting says why addr is not to be tried now, or "".
func (b *badSources) waiting(addr string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sources[addr]
	if s == nil || !time.Now().Before(s.until) {
		return ""
	}
	return fmt.Sprintf("not tried before %s after %d failures in a row, the last: %s", s.until.Format(time.TimeOnly), s.failures, s.why)
}

func (b *badSources) failed(addr string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sources == nil {
		b.sources = map[string]*badSource{}
	}
	s := b.sources[addr]
	if s == nil {
		if len(b.sources) >= maxBadSources {
			clear(b.sources)
		}
		s = &badSource{}
		b.sources[addr] = s
	}
	s.failures++
	wait := sourceBackoff << min(s.failures-1, 10)
	s.until = time.Now().Add(min(wait, sourceBackoffMax))
	s.why = err.Error()
}

func (b *badSources) ok(addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.sources, addr)
}

// wholeTrees is a pull's target that knows the trees of the snapshots this
// node's refs point at: an activation checked each complete, so a pull
// skips them and what is below them (snapshot.TreeHaver).
type wholeTrees struct {
	snapshot.Target
	trees map[store.Ref]bool
	local Local
}

// AttachSignature lets a pull copy the snapshot's signatures
// (snapshot.SignatureSink).
func (w wholeTrees) AttachSignature(ctx context.Context, id store.Ref, sig []byte) error {
	return w.local.AttachSignature(ctx, id, sig)
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
		// A snapshot whose walk meets damage vouches for nothing. Each
		// distinct tree is read once, whatever the paths that lead to it.
		these, damaged := map[store.Ref]bool{id: true}, false
		err := store.WalkDistinct(st, id, func(_ string, e store.Entry) error {
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
	return wholeTrees{store.Verifying(st), trees, n.local}, nil
}

// sources lists the peers to pull id from: origin first (it holds the
// release), then every other member that staged or applied id under any
// ref (it holds it whole), in random order; never this node.
func (n *Node) sources(ctx context.Context, id store.Ref, origin string) ([]string, error) {
	k := n.keys
	resp, err := n.cli.Txn(ctx).Then(
		clientv3.OpGet(k.members(), clientv3.WithPrefix()),
		clientv3.OpGet(k.reports(stateStaged), clientv3.WithPrefix()),
		clientv3.OpGet(k.reports(stateApplied), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		n.failed(err)
		return nil, fmt.Errorf("etcd: %w", err)
	}
	peers := map[string]string{}
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		node, err := k.nodeOf(k.members(), kv.Key)
		if err != nil {
			continue
		}
		if m, err := decodeValue[memberValue](kv.Key, kv.Value); err == nil {
			peers[node] = m.Peer
		}
	}
	var out []string
	first := 0 // where the members start
	if origin != "" && origin != n.cfg.Peer {
		out, first = append(out, origin), 1
	}
	seen := map[string]bool{n.cfg.Peer: true, origin: true}
	for i, s := range []state{stateStaged, stateApplied} {
		for _, kv := range resp.Responses[1+i].GetResponseRange().Kvs {
			node, _, err := k.reportOf(s, kv.Key)
			if err != nil || node == n.cfg.Node {
				continue
			}
			v, err := decodeValue[reportValue](kv.Key, kv.Value)
			if p := peers[node]; err == nil && v.Snapshot == id && p != "" && !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	// The members after the origin in random order: those that fall
	// back from the origin do not all go to the same one.
	rand.Shuffle(len(out)-first, func(i, j int) { out[first+i], out[first+j] = out[first+j], out[first+i] })
	return out, nil
}
