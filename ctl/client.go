package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/rpc"

	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// Client is API through vfsd's control socket. It is safe for concurrent
// use: net/rpc multiplexes calls on one connection, so an import's workers
// run in parallel.
type Client struct {
	c    *rpc.Client
	path string
	ctx  context.Context
}

// Dial connects to the daemon's socket. When ctx ends (vfsctl got SIGTERM
// or Ctrl-C), every call under way returns at once with ErrInterrupted and
// the connection is closed; the daemon then aborts an unfinished import.
func Dial(ctx context.Context, path string) (*Client, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("connect to vfsd at %s (is it running?): %w", path, err)
	}
	return &Client{c: rpc.NewClient(conn), path: path, ctx: ctx}, nil
}

// ErrInterrupted: the caller's context ended while it waited on vfsd.
var ErrInterrupted = errors.New("interrupted")

func (c *Client) call(method string, args, reply any) error {
	call := c.c.Go("VFS."+method, args, reply, make(chan *rpc.Call, 1))
	select {
	case <-call.Done:
		return decodeErr(call.Error)
	case <-c.ctx.Done():
		c.c.Close()
		return fmt.Errorf("%s: %w while waiting for vfsd", method, ErrInterrupted)
	}
}

// Close hangs up; an import not finished is aborted by the daemon.
func (c *Client) Close() error { return c.c.Close() }

func (c *Client) Tree(ref store.Ref) (*store.Tree, error) {
	var t store.Tree
	return &t, c.call("Tree", RefArg{ref}, &t)
}

func (c *Client) File(ref store.Ref) (*store.FileRecord, error) {
	var f store.FileRecord
	return &f, c.call("File", RefArg{ref}, &f)
}

// ReadAt reads in requests of at most maxRead bytes; the daemon verifies
// every chunk it reads.
func (c *Client) ReadAt(f *store.FileRecord, p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		var got []byte
		if err := c.call("ReadAt", ReadArgs{Ref: f.Ref, Off: off + int64(n), Len: min(len(p)-n, maxRead)}, &got); err != nil {
			return n, err
		}
		if len(got) == 0 {
			break
		}
		n += copy(p[n:], got)
	}
	return n, nil
}

func (c *Client) Snapshot(id store.Ref) (store.SnapshotInfo, error) {
	var info store.SnapshotInfo
	return info, c.call("Snapshot", RefArg{id}, &info)
}

func (c *Client) Snapshots() ([]store.SnapshotInfo, error) {
	var all []store.SnapshotInfo
	return all, c.call("Snapshots", true, &all)
}

func (c *Client) Label(name string) (store.Ref, error) {
	var id store.Ref
	return id, c.call("Label", NameArg{name}, &id)
}

func (c *Client) NamedRefs() (map[string]store.Ref, error) {
	var m map[string]store.Ref
	return m, c.call("NamedRefs", true, &m)
}

func (c *Client) Log() ([]store.LogEntry, error) {
	var l []store.LogEntry
	return l, c.call("Log", true, &l)
}

func (c *Client) Activate(ref string, id store.Ref, reason string, verify bool) (Activation, error) {
	var e Activation
	return e, c.call("Activate", ActivateArgs{Ref: ref, ID: id, Reason: reason, Verify: verify}, &e)
}

func (c *Client) Rollback(ref, reason string) (Activation, error) {
	var e Activation
	return e, c.call("Rollback", ActivateArgs{Ref: ref, Reason: reason}, &e)
}

func (c *Client) Remove(id store.Ref) error {
	var ok bool
	return c.call("Remove", RefArg{id}, &ok)
}

func (c *Client) Verify(ids []store.Ref) (*snapshot.Report, error) {
	var r snapshot.Report
	return &r, c.call("Verify", VerifyArgs{ids}, &r)
}

func (c *Client) Status() (Status, error) {
	var s Status
	return s, c.call("Status", true, &s)
}

func (c *Client) Begin() (store.Batch, error) {
	var ok bool
	if err := c.call("Begin", true, &ok); err != nil {
		return nil, err
	}
	return &remoteBatch{c: c}, nil
}

// askAbove is the chunk size above which the client asks whether the
// daemon has a chunk before sending it.
const askAbove = 16 << 10

// remoteBatch sends an import's writes to the daemon, skipping the bytes of
// chunks it already has.
type remoteBatch struct{ c *Client }

func (b *remoteBatch) PutChunk(data []byte) (store.Ref, error) {
	ref := store.Sum(data)
	// Asking first costs a round trip; for a small chunk that costs more
	// than sending it.
	if len(data) > askAbove {
		var has bool
		if err := b.c.call("HasChunk", RefArg{ref}, &has); err != nil || has {
			return ref, err
		}
	}
	var got store.Ref
	if err := b.c.call("PutChunk", data, &got); err != nil {
		return ref, err
	}
	if got != ref {
		return ref, fmt.Errorf("daemon stored chunk %s as %s: %w", ref.Short(), got.Short(), store.ErrCorrupt)
	}
	return ref, nil
}

func (b *remoteBatch) PutFile(ref store.Ref, size uint64, mtime int64, chunks []store.Ref) (int64, error) {
	var m int64
	return m, b.c.call("PutFile", PutFileArgs{Ref: ref, Size: size, MTime: mtime, Chunks: chunks}, &m)
}

func (b *remoteBatch) PutTree(t *store.Tree) (store.Ref, error) {
	var ref store.Ref
	return ref, b.c.call("PutTree", *t, &ref)
}

func (b *remoteBatch) PutStat(path string, e store.StatEntry) error {
	var ok bool
	return b.c.call("PutStat", StatArgs{Path: path, Stat: e}, &ok)
}

func (b *remoteBatch) CachedRef(path string, cur store.StatEntry) (store.Ref, bool, error) {
	var r CachedReply
	err := b.c.call("CachedRef", StatArgs{Path: path, Stat: cur}, &r)
	return r.Ref, r.OK, err
}

// Commit asks the daemon to end the import: it checks the content it was
// sent and the tree, then records the snapshot.
func (b *remoteBatch) Commit(info store.SnapshotInfo) (store.SnapshotInfo, error) {
	var out store.SnapshotInfo
	return out, b.c.call("Commit", info, &out)
}

func (b *remoteBatch) Abort() {
	var ok bool
	b.c.call("Abort", true, &ok)
}

var _ API = (*Client)(nil)

func (c *Client) Classes() (snapshot.Classes, error) {
	var cl snapshot.Classes
	return cl, c.call("Classes", true, &cl)
}

func (c *Client) SetClasses(cl snapshot.Classes) error {
	var ok bool
	return c.call("SetClasses", cl, &ok)
}

func (c *Client) Policy() (snapshot.Policy, error) {
	var p snapshot.Policy
	return p, c.call("Policy", true, &p)
}

func (c *Client) SetPolicy(p snapshot.Policy) error {
	var ok bool
	return c.call("SetPolicy", p, &ok)
}

func (c *Client) Prune(p snapshot.Policy, dryRun bool) ([]snapshot.Decision, error) {
	var d []snapshot.Decision
	return d, c.call("Prune", PruneArgs{Policy: p, DryRun: dryRun}, &d)
}

func (c *Client) GC() (store.GCStats, error) {
	var st store.GCStats
	return st, c.call("GC", true, &st)
}

func (c *Client) Purge(target, reason string) ([]store.PurgeRecord, error) {
	var r []store.PurgeRecord
	return r, c.call("Purge", PurgeArgs{Target: target, Reason: reason}, &r)
}

func (c *Client) AddLabel(id store.Ref, label string) error {
	var ok bool
	return c.call("AddLabel", LabelArgs{ID: id, Name: label}, &ok)
}

// Backup streams a backup of the daemon's store into w.
func (c *Client) Backup(w io.Writer) error {
	var ok bool
	if err := c.call("BackupStart", true, &ok); err != nil {
		return err
	}
	for {
		var b []byte
		if err := c.call("BackupRead", maxRead, &b); err != nil {
			return err
		}
		if len(b) == 0 {
			return nil
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
}
