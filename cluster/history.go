package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/store"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The cluster's history of a ref: history/<ref>/<gen, 20 digits> holds one
// HistoryEntry per committed generation, written in the commit's own
// transaction and only if absent (write-once). Each names the hash of the
// one before, so that an entry edited, removed or inserted later shows as
// a broken chain when the history is read (History).

// entryHash is the SHA-256 of an entry's JSON with its own hash empty.
func entryHash(e HistoryEntry) string {
	e.Hash = ""
	b, _ := json.Marshal(e)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// nextEntry builds the history entry of a commit: it reads the latest
// entry of ref for the chain.
func (n *Node) nextEntry(ctx context.Context, ref string, d release) (HistoryEntry, error) {
	e := HistoryEntry{Gen: d.Gen, Snapshot: d.Snapshot, Prev: d.Prev, Node: d.Node, Reason: d.Reason, UID: d.UID, User: d.User, Time: time.Now().UTC()}
	resp, err := n.cli.Get(ctx, n.keys.historyOf(ref), clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(1))
	if err != nil {
		return e, err
	}
	if len(resp.Kvs) > 0 {
		last, err := decodeValue[HistoryEntry](resp.Kvs[0].Key, resp.Kvs[0].Value)
		if err != nil {
			return e, fmt.Errorf("history of %s: %w", ref, err)
		}
		e.PrevHash = last.Hash
	}
	e.Hash = entryHash(e)
	return e, nil
}

// History reads ref's history, oldest first, and checks its chain: each
// entry's hash, and that each names the one before it. The first problem
// found is returned with the entries before it.
func (n *Node) History(ctx context.Context, ref string) (ctl.ClusterHistory, error) {
	h := ctl.ClusterHistory{Ref: ref, Entries: []ctl.HistoryEntry{}}
	if err := store.CheckLabel(ref); err != nil {
		return h, err
	}
	resp, err := n.cli.Get(ctx, n.keys.historyOf(ref), clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return h, n.etcdError(err, 0)
	}
	prev := ""
	for _, kv := range resp.Kvs {
		e, err := decodeValue[HistoryEntry](kv.Key, kv.Value)
		switch {
		case err != nil:
			h.Problem = fmt.Sprintf("not an entry: %v", err)
		case string(kv.Key) != n.keys.history(ref, e.Gen):
			h.Problem = fmt.Sprintf("%s holds generation %d", kv.Key, e.Gen)
		case e.Hash != entryHash(e):
			h.Problem = fmt.Sprintf("generation %d does not match its hash: edited", e.Gen)
		case e.PrevHash != prev:
			h.Problem = fmt.Sprintf("generation %d does not name the entry before it: one was removed, inserted or edited", e.Gen)
		}
		if h.Problem != "" {
			break
		}
		h.Entries = append(h.Entries, ctl.HistoryEntry{Gen: e.Gen, Snapshot: e.Snapshot, Prev: e.Prev, Node: e.Node, Reason: e.Reason,
			Time: e.Time, PrevHash: e.PrevHash, Hash: e.Hash, UID: e.UID, User: e.User})
		prev = e.Hash
	}
	return h, nil
}
