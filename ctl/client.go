package ctl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// Client is API through vfsd's control socket. It is safe for concurrent
// use.
type Client struct {
	hc   *http.Client
	base string // scheme and host of every URL
	ctx  context.Context
	path string
	// received counts response body bytes read (DialPeer's clients):
	// what a pull cost on the wire.
	received *atomic.Int64
	// Local: activate and rollback move a ref the cluster manages on this
	// node alone (vfsctl --local): a deliberate exception, logged, after
	// which the node is not ready until the cluster's next release.
	Local bool
}

// Dial connects to the daemon's socket. When ctx ends (vfsctl got SIGTERM
// or Ctrl-C), every call under way returns at once with ErrInterrupted and
// its request is cancelled; the daemon then stops that work.
func Dial(ctx context.Context, path string) (*Client, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, dialError(path, err)
	}
	conn.Close()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &Client{hc: &http.Client{Transport: tr}, base: "http://vfs", ctx: ctx, path: path}, nil
}

// DialWith returns a client whose connections come from dial (vfsctl
// --host: one ssh process each). The first is opened now, so that a
// failure to reach vfsd is told at once, and is the first the client
// uses. name says where the daemon is, in messages.
func DialWith(ctx context.Context, name string, dial func(context.Context) (net.Conn, error)) (*Client, error) {
	first, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			mu.Lock()
			c := first
			first = nil
			mu.Unlock()
			if c != nil {
				return c, nil
			}
			return dial(ctx)
		},
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &Client{hc: &http.Client{Transport: tr}, base: "http://vfs", ctx: ctx, path: name}, nil
}

// KindError is the sentinel of the error kind called name (nil for an
// unknown name or "error").
func KindError(name string) error {
	for _, k := range Kinds {
		if k.Name == name {
			return k.Err
		}
	}
	return nil
}

// DialError names why the socket at path cannot be reached, with the
// error's kind (vfsctl dial-stdio tells the far side).
func DialError(path string, err error) error { return dialError(path, err) }

// dialError names why the socket cannot be reached.
func dialError(path string, err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("no vfsd socket at %s (is vfsd running?): %w", path, ErrUnavailable)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("vfsd socket %s is stale: nothing answers on it (vfsd stopped or crashed): %w", path, ErrUnavailable)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("vfsd socket %s: permission denied: join the socket's group (ls -l %s shows it; usermod -aG GROUP USER, then log in again): %w", path, path, ErrForbidden)
	}
	return fmt.Errorf("connect to vfsd at %s: %w", path, err)
}

// Close releases idle connections; an import not committed is aborted by
// its owner or, failing that, by its lease.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// clientMargin is how much longer than the daemon's own deadline a client
// waits, so that the daemon's answer, not the client's guess, says why.
const clientMargin = 10 * time.Second

// send makes one request of e; body, if set, is sent as is. The response's
// status is checked: an error status becomes the daemon's error.
func (c *Client) send(ctx context.Context, e *endpoint, req any, body io.Reader, header http.Header) (*http.Response, context.CancelFunc, error) {
	u, err := requestURL(e, req)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, e.Timeout+clientMargin)
	stop := context.AfterFunc(c.ctx, cancel)
	done := func() { stop(); cancel() }
	if header == nil {
		header = http.Header{}
	}
	if body == nil && req != nil && e.Method != http.MethodGet && hasBody(reflect.TypeOf(req)) {
		b, err := json.Marshal(req)
		if err != nil {
			done()
			return nil, nil, err
		}
		body = bytes.NewReader(b)
		header.Set("Content-Type", "application/json")
	}
	hr, err := http.NewRequestWithContext(ctx, e.Method, c.base+u, body)
	if err != nil {
		done()
		return nil, nil, err
	}
	hr.Header = header
	resp, err := c.hc.Do(hr)
	if err != nil {
		done()
		return nil, nil, c.transportError(e, ctx, err)
	}
	if resp.StatusCode >= 300 {
		defer done()
		defer resp.Body.Close()
		var a apiError
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&a); err != nil || a.Kind == "" {
			return nil, nil, fmt.Errorf("%s %s: vfsd answered %s", e.Method, e.Path, resp.Status)
		}
		return nil, nil, a.err()
	}
	return resp, done, nil
}

// transportError explains a request that got no answer.
func (c *Client) transportError(e *endpoint, ctx context.Context, err error) error {
	switch {
	case c.ctx.Err() != nil:
		return fmt.Errorf("%s: %w while waiting for vfsd", e.Name, ErrInterrupted)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%s: no answer from vfsd within %s: %w", e.Name, e.Timeout+clientMargin, context.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", e.Name, ErrInterrupted)
	}
	if errors.Is(err, ErrStalled) {
		return fmt.Errorf("%s: %w", e.Name, err)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return dialError(c.path, err)
	}
	return fmt.Errorf("%s: vfsd closed the connection: %v: %w", e.Name, err, ErrUnavailable)
}

// roundTrip sends req as e describes and decodes the JSON answer into
// resp; a streaming answer's progress events go to progress.
func (c *Client) roundTrip(ctx context.Context, e *endpoint, req any, progress func(json.RawMessage) error, resp any) error {
	hr, done, err := c.send(ctx, e, req, nil, nil)
	if err != nil {
		return err
	}
	defer done()
	defer hr.Body.Close()
	if hr.Header.Get("Content-Type") != "application/x-ndjson" {
		if err := json.NewDecoder(hr.Body).Decode(resp); err != nil {
			return c.bodyError(ctx, e, err)
		}
		return nil
	}
	sc := bufio.NewScanner(hr.Body)
	sc.Buffer(nil, maxJSON)
	for sc.Scan() {
		var ev struct {
			Progress json.RawMessage `json:"progress"`
			Result   json.RawMessage `json:"result"`
			Error    *apiError       `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return c.bodyError(ctx, e, err)
		}
		switch {
		case ev.Error != nil:
			return ev.Error.err()
		case ev.Result != nil:
			return json.Unmarshal(ev.Result, resp)
		case ev.Progress != nil && progress != nil:
			if err := progress(ev.Progress); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return c.bodyError(ctx, e, err)
	}
	return fmt.Errorf("%s: the answer ended without a result: %w", e.Name, ErrUnavailable)
}

func (c *Client) bodyError(ctx context.Context, e *endpoint, err error) error {
	if c.ctx.Err() != nil || ctx.Err() != nil {
		return fmt.Errorf("%s: %w while reading vfsd's answer", e.Name, ErrInterrupted)
	}
	if errors.Is(err, ErrStalled) || errors.Is(err, store.ErrCorrupt) { // a peer's answer (peer.go)
		return fmt.Errorf("%s: %w", e.Name, err)
	}
	return fmt.Errorf("%s: reading vfsd's answer: %v: %w", e.Name, err, ErrUnavailable)
}

func (c *Client) Tree(ref store.Ref) (*store.Tree, error) {
	return opTree.call(c.ctx, c, refParam{ref})
}

func (c *Client) File(ref store.Ref) (*store.FileRecord, error) {
	return opFile.call(c.ctx, c, refParam{ref})
}

// ReadAt reads with ranged requests of at most maxContentPart bytes; the
// daemon verifies every chunk it reads. Like Store.ReadAt it stops at the
// end of the file without an error.
func (c *Client) ReadAt(f *store.FileRecord, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset", f.Ref)
	}
	n := 0
	for n < len(p) && off+int64(n) < int64(f.Size) {
		first := off + int64(n)
		last := min(first+int64(min(len(p)-n, maxContentPart)), int64(f.Size)) - 1
		hdr := http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", first, last)}}
		resp, done, err := c.send(c.ctx, opContent, refParam{f.Ref}, nil, hdr)
		if err != nil {
			return n, err
		}
		got, err := io.ReadFull(resp.Body, p[n:n+int(last-first+1)])
		resp.Body.Close()
		done()
		n += got
		if err != nil {
			return n, c.bodyError(c.ctx, opContent, err)
		}
	}
	return n, nil
}

func (c *Client) Snapshot(id store.Ref) (store.SnapshotInfo, error) {
	return opSnapshot.call(c.ctx, c, idParam{id})
}

func (c *Client) Snapshots() ([]store.SnapshotInfo, error) {
	return opSnapshots.call(c.ctx, c, none{})
}

func (c *Client) Label(name string) (store.Ref, error) {
	a, err := opLabel.call(c.ctx, c, labelParam{name})
	return a.ID, err
}

func (c *Client) NamedRefs() (map[string]store.Ref, error) { return opRefs.call(c.ctx, c, none{}) }
func (c *Client) Log() ([]store.LogEntry, error)           { return opLog.call(c.ctx, c, none{}) }

// Version asks the daemon for its API version and build.
func (c *Client) Version(ctx context.Context) (Version, error) { return opVersion.call(ctx, c, none{}) }

func (c *Client) Activate(ctx context.Context, ref string, id store.Ref, reason string, verify bool) (Activation, error) {
	return opActivate.call(ctx, c, activateRequest{Ref: ref, ID: id, Reason: reason, Verify: verify, Local: c.Local})
}

func (c *Client) Rollback(ctx context.Context, ref, reason string) (Activation, error) {
	return opRollback.call(ctx, c, rollbackRequest{Ref: ref, Reason: reason, Local: c.Local})
}

func (c *Client) RemoveRef(ctx context.Context, ref, reason string) (store.LogEntry, error) {
	return opRemoveRef.call(ctx, c, removeRefRequest{Ref: ref, Reason: reason, Local: c.Local})
}

func (c *Client) RemoveSnapshot(ctx context.Context, id store.Ref) error {
	_, err := opRemove.call(ctx, c, idParam{id})
	return err
}

func (c *Client) SetLabel(ctx context.Context, id store.Ref, label string, move bool) (store.Ref, error) {
	a, err := opSetLabel.call(ctx, c, labelRequest{ID: id, Label: label, Move: move})
	return a.From, err
}

func (c *Client) RemoveLabel(ctx context.Context, label string) (store.Ref, error) {
	a, err := opRemoveLabel.call(ctx, c, labelParam{label})
	return a.From, err
}

func (c *Client) SetPinned(ctx context.Context, id store.Ref, pinned bool) error {
	_, err := opSetPinned.call(ctx, c, pinRequest{ID: id, Pinned: pinned})
	return err
}

func (c *Client) VerifySnapshots(ctx context.Context, ids []store.Ref, progress func(snapshot.VerifyProgress)) (*snapshot.Report, error) {
	return opVerify.call(ctx, c, verifyRequest{IDs: ids}, progress)
}

func (c *Client) Status(ctx context.Context) (Status, error) { return opStatus.call(ctx, c, none{}) }

func (c *Client) Classes(ctx context.Context) (snapshot.Classes, error) {
	return opClasses.call(ctx, c, none{})
}

func (c *Client) SetClasses(ctx context.Context, cl snapshot.Classes) error {
	_, err := opSetClasses.call(ctx, c, cl)
	return err
}

func (c *Client) Policy(ctx context.Context) (snapshot.Policy, error) {
	return opPolicy.call(ctx, c, none{})
}

func (c *Client) SetPolicy(ctx context.Context, p snapshot.Policy) error {
	_, err := opSetPolicy.call(ctx, c, p)
	return err
}

func (c *Client) Prune(ctx context.Context, p snapshot.Policy, dryRun, force bool) ([]snapshot.Decision, error) {
	return opPrune.call(ctx, c, pruneRequest{Policy: p, DryRun: dryRun, Force: force})
}

func (c *Client) CollectGarbage(ctx context.Context, progress func(GCProgress)) (store.GCStats, error) {
	return opGC.call(ctx, c, none{}, progress)
}

func (c *Client) PurgeContent(ctx context.Context, target, reason string) ([]store.PurgeRecord, error) {
	return opPurge.call(ctx, c, purgeRequest{Target: target, Reason: reason})
}

// Backup streams a backup of the daemon's store into w.
func (c *Client) Backup(ctx context.Context, w io.Writer) error {
	resp, done, err := c.send(ctx, opBackup, nil, nil, nil)
	if err != nil {
		return err
	}
	defer done()
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return c.bodyError(ctx, opBackup, err)
	}
	if t := resp.Trailer.Get("Vfs-Error"); t != "" {
		var a apiError
		if json.Unmarshal([]byte(t), &a) == nil && a.Kind != "" {
			return a.err()
		}
		return errors.New(t)
	}
	return nil
}

var _ API = (*Client)(nil)
