package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Pulls: a member copies a snapshot it lacks from a peer that holds it,
// by hash; what arrives is checked as an import is.

// pull copies snapshot id from the first source that gives it whole and
// true: origin (if any), then the members that staged or applied it.
// Objects that fail their check are never recorded (snapshot.Pull); the
// source is counted as rejected and the next tried.
func (n *Node) pull(ctx context.Context, ref string, gen uint64, id store.Ref, origin string) error {
	srcs, err := n.sources(ctx, id, origin)
	if err != nil {
		return err
	}
	if len(srcs) == 0 {
		return fmt.Errorf("pull %s: no member holds it", id.Short())
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
			n.cfg.Log.Info("cluster: pulled", "ref", ref, "gen", gen, "snapshot", id.Short(), "from", addr,
				"trees", stats.Trees, "trees_had", stats.TreesHad, "files", stats.Files, "chunks", stats.Chunks,
				"chunk_bytes", stats.BytesFetched, "had", stats.ChunksHad, "received", src.BytesReceived())
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if errors.Is(err, store.ErrCorrupt) || errors.Is(err, store.ErrInvalid) {
			n.cfg.Log.Warn("cluster: rejected what a source sent", "ref", ref, "gen", gen, "from", addr, "err", err)
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

// sources lists the peers to pull id from: origin first, then every other
// member that staged or applied id under any ref (it holds it whole),
// never this node.
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
	seen := map[string]bool{n.cfg.Peer: true}
	if origin != "" && !seen[origin] {
		seen[origin] = true
		out = append(out, origin)
	}
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
	return out, nil
}
