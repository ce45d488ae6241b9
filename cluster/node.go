package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// Config is how a node joins.
type Config struct {
	Name      string   // the cluster's name: keys live under /vfs/<name>/
	Node      string   // this node's name, unique in the cluster
	Endpoints []string // etcd
	// TLS, if set, is how etcd is reached (https endpoints): its CA,
	// and this node's client certificate when etcd asks for one.
	TLS *tls.Config
	// Username and Password, if set, authenticate to etcd (its RBAC).
	Username, Password string
	Peer               string // this node's peer listener, host:port, as others reach it
	// Peers is how this node reaches the peer listeners of others: mutual
	// TLS (vfsd --peer-tls-*) and the progress deadline of a pull.
	Peers ctl.PeerOptions
	// SessionTTL is the etcd lease of this node's membership, in seconds
	// (10 when zero).
	SessionTTL int
	Log        *slog.Logger
	// Rejected, if set, is called when a source's objects fail their
	// check (a metric: vfs_cluster_pull_rejected_total).
	Rejected func()
	// Stalled, if set, is called when a source stops sending mid-pull
	// (vfs_cluster_pull_stalled_total).
	Stalled func()
	// ReleaseHooks, if set, runs once per release, on the coordinator,
	// after every member applied it (vfsd --cluster-hook: a CDN purge),
	// and returns one message per failure.
	ReleaseHooks func(e store.LogEntry) []string
}

// Local is what a node does to its own store and mount.
type Local interface {
	Store() *store.Store
	// Switch points ref at id, logged as who with reason, and tells the
	// mount. It runs no hook: RunHooks does, once this node has said it
	// applied the release, so that no hook is on the readiness path.
	// changed is false when ref already pointed at id.
	Switch(ctx context.Context, ref string, id store.Ref, who snapshot.Who, reason string) (e store.LogEntry, changed bool, err error)
	RunHooks(e store.LogEntry) []string
	// Lookahead serves the staged snapshot's assets under ref before the
	// flip, so that during it every node answers the assets of both
	// releases (zero: none).
	Lookahead(ref string, id store.Ref)
	// Allowed is nil when ref may serve snapshot id under the signing
	// policy (always, without one); else it says why not
	// (sign.ErrUnsigned).
	Allowed(ref string, id store.Ref) error
	// AttachSignature checks sig as a signature of snapshot id and
	// attaches it.
	AttachSignature(ctx context.Context, id store.Ref, sig []byte) error
}

// Node is this vfsd in its cluster.
type Node struct {
	cfg   Config
	local Local
	cli   *clientv3.Client
	keys  keys

	// ctx ends at Close; every goroutine of the node is in wg, which
	// Close waits for before it returns (and so before the store closes).
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}
	// hooks queues the activations whose node hooks are still to run.
	hooks chan store.LogEntry

	// requests counts the requests made of etcd (streams count once).
	requests *atomic.Int64
	// bad are the sources that failed lately (pull.go).
	bad badSources

	mu sync.Mutex
	// session is this node's membership (nil while it is not a member):
	// its lease carries members/<node> and every staged and applied key
	// of the node, so they all go when it ends.
	session *concurrency.Session
	evicted string    // why this node may not join, or ""
	heard   time.Time // when etcd last answered this node
	// readAt is when the last reconcile read etcd: what Ready judges by
	// must be fresh (a node stopped with SIGSTOP, or just started, has
	// an old view or none).
	readAt time.Time
	// failing is when etcd stopped answering (zero while it answers),
	// and etcdErr the last error.
	failing time.Time
	etcdErr string
	// peers are the other members as last read (node -> peer address),
	// members all of them, this node included.
	peers   map[string]string
	members []string
	// refs is what this node knows of each ref (see refState).
	refs map[string]*refState
	// problems are values under the prefix that could not be read and
	// concern no single ref (a member's), by key.
	problems map[string]string
	// coordinating: refs whose release this process coordinates now
	// (Activate), which an orphan check must not take over.
	coordinating map[string]int
	// wrote: the generation of each ref this process last wrote as
	// desired. A release it wrote whose wait ended stays desired (the
	// operator runs the activation again, or aborts); one this node's
	// earlier process wrote is orphaned.
	wrote map[string]uint64
	// status is the last status read from etcd (JSON): while etcd is out
	// of reach, the members' reports in it are the last known.
	status []byte

	// allCut caches whether every other member was cut off from etcd
	// too (see fenced), for a second: ready probes come often.
	allCutMu sync.Mutex
	allCutAt time.Time
	allCut   bool
}

// refState is what a node knows of one ref. desired and committed are
// etcd's, as last read and checked (nil: none); a value that could not
// be read leaves them as they were and sets bad. staged and applied are
// this node's own; applied is kept in the store (remember), so that a
// node never moves back because etcd forgot a release.
type refState struct {
	wake       chan struct{}
	desired    *release
	desiredRev int64 // desired's ModRevision, for a guarded takeover
	committed  *commit
	seenAt     time.Time // when this committed generation was first read
	bad        string
	staged     reportValue
	stagedAt   time.Time // when staged was reported
	applied    reportValue
	// putStaged and putApplied are the leases the reports were last
	// written under: a new session writes them again.
	putStaged, putApplied clientv3.LeaseID
	err                   string // the last failure to stage or apply
	behind                string // etcd commits less than this node applied
	// orphan is when this node first saw the desired generation's
	// coordinator gone (zero: not seen).
	orphanGen uint64
	orphanAt  time.Time
	started   bool // its worker runs
}

// Join connects to etcd, registers this node as a member on its session
// lease, and reconciles until ctx ends or Close.
func Join(ctx context.Context, cfg Config, local Local) (*Node, error) {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 10
	}
	if err := checkNode(cfg.Node); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", cfg.Name, err)
	}
	if err := store.CheckLabel(cfg.Name); err != nil {
		return nil, fmt.Errorf("cluster name: %w", err)
	}
	requests := &atomic.Int64{}
	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.Endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		TLS: cfg.TLS, Username: cfg.Username, Password: cfg.Password,
		DialOptions: []grpc.DialOption{
			// gRPC's default reconnect backoff grows to 2 minutes: after
			// an outage a node would rejoin tens of seconds late. A lease
			// is the scale a member's absence is measured in.
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff: backoff.Config{BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second}}),
			// Every request this node makes of etcd, counted: what a
			// release costs etcd per node (make bench-cluster).
			grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				requests.Add(1)
				return invoker(ctx, method, req, reply, cc, opts...)
			}),
			grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
				requests.Add(1)
				return streamer(ctx, desc, cc, method, opts...)
			}),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("cluster %s: etcd: %w", cfg.Name, err)
	}
	n := &Node{cfg: cfg, local: local, cli: cli, requests: requests, keys: newKeys(cfg.Name), wake: make(chan struct{}, 1), hooks: make(chan store.LogEntry, 64),
		refs: map[string]*refState{}, problems: map[string]string{}, coordinating: map[string]int{}, wrote: map[string]uint64{}}
	n.ctx, n.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if err := n.recall(); err != nil {
		cli.Close()
		return nil, fmt.Errorf("cluster %s: %w", cfg.Name, err)
	}
	if err := n.join(); err != nil {
		n.cancel()
		cli.Close()
		return nil, fmt.Errorf("cluster %s: join: %w", cfg.Name, err)
	}
	n.wg.Add(3)
	go n.run()
	go n.probe()
	go n.runHooks()
	// ctx's end is a Close (vfsd's run ends with both).
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		select {
		case <-ctx.Done():
			n.cancel()
		case <-n.ctx.Done():
		}
	}()
	return n, nil
}

// joinTimeout bounds one attempt to join.
const joinTimeout = 10 * time.Second

// errEvicted: this node may not join (evicted/<node> exists).
var errEvicted = errors.New("evicted")

// join checks the schema, starts a session and puts the membership key on
// its lease, unless this node is evicted. The staged and applied keys of
// an earlier session went with it: the next pass of each ref writes them
// again (their leases differ).
func (n *Node) join() error {
	// Bounded: the client retries a refused handshake (a missing client
	// certificate) or an unreachable etcd for ever, and vfsd's start
	// must end with the reason instead.
	ctx, cancel := context.WithTimeout(n.ctx, joinTimeout)
	defer cancel()
	unreachable := func(err error) error {
		if ctx.Err() != nil && n.ctx.Err() == nil {
			return fmt.Errorf("etcd at %s did not answer within %s (unreachable, or refusing this node's TLS or credentials): %w: %w",
				strings.Join(n.cfg.Endpoints, ","), joinTimeout, ctl.ErrEtcd, err)
		}
		return fmt.Errorf("%w: %w", ctl.ErrEtcd, err)
	}
	version := strconv.Itoa(SchemaVersion)
	sr, err := n.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(n.keys.schema()), "=", 0)).
		Then(clientv3.OpPut(n.keys.schema(), version)).Else(clientv3.OpGet(n.keys.schema())).Commit()
	if err != nil {
		return unreachable(err)
	}
	if !sr.Succeeded {
		if kvs := sr.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 && string(kvs[0].Value) != version {
			return fmt.Errorf("etcd's %s says schema %q; this vfsd reads schema %s only: %w", n.keys.schema(), kvs[0].Value, version, store.ErrInvalid)
		}
	}
	// The lease is granted here, bounded, and handed to the session:
	// concurrency.NewSession's own grant would wait as long as etcd
	// does not answer.
	grant, err := n.cli.Grant(ctx, int64(n.cfg.SessionTTL))
	if err != nil {
		return unreachable(err)
	}
	s, err := concurrency.NewSession(n.cli, concurrency.WithLease(grant.ID), concurrency.WithTTL(n.cfg.SessionTTL), concurrency.WithContext(n.ctx))
	if err != nil {
		return unreachable(err)
	}
	mv, err := encodeValue(memberValue{Peer: n.cfg.Peer})
	if err != nil {
		s.Close()
		return err
	}
	// Joined only while not evicted, in one transaction: an eviction
	// written after it finds the membership key and revokes its lease.
	ek := n.keys.evicted(n.cfg.Node)
	resp, err := n.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(ek), "=", 0)).
		Then(clientv3.OpPut(n.keys.member(n.cfg.Node), mv, clientv3.WithLease(s.Lease()))).
		Else(clientv3.OpGet(ek)).Commit()
	if err != nil {
		s.Close()
		return unreachable(err)
	}
	if !resp.Succeeded {
		s.Close()
		why := "evicted (its reason cannot be read)"
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			if ev, err := decodeValue[Eviction](kvs[0].Key, kvs[0].Value); err == nil {
				why = fmt.Sprintf("evicted by %s at %s (%s)", ev.By, ev.Time.Format(time.RFC3339), strconv.Quote(ev.Reason))
			}
		}
		n.setEvicted(why + "; vfsctl cluster admit " + n.cfg.Node + " lets it join again")
		return errEvicted
	}
	n.setEvicted("")
	n.mu.Lock()
	n.session = s
	n.mu.Unlock()
	n.answered()
	n.cfg.Log.Info("cluster: member", "cluster", n.cfg.Name, "node", n.cfg.Node, "lease", fmt.Sprintf("%x", int64(s.Lease())))
	return nil
}

// setEvicted records why this node may not join ("" once it may), and
// logs each change once.
func (n *Node) setEvicted(why string) {
	n.mu.Lock()
	changed := n.evicted != why
	n.evicted = why
	n.mu.Unlock()
	switch {
	case changed && why != "":
		n.cfg.Log.Warn("cluster: this node is "+why, "node", n.cfg.Node)
	case changed:
		n.cfg.Log.Info("cluster: admitted again", "node", n.cfg.Node)
	}
}

// lease is the current session's lease (0: not a member).
func (n *Node) lease() clientv3.LeaseID {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.session == nil {
		return 0
	}
	return n.session.Lease()
}

// answered notes that etcd answered.
func (n *Node) answered() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.heard = time.Now()
	if !n.failing.IsZero() {
		n.cfg.Log.Info("cluster: etcd answers again", "after", time.Since(n.failing).Round(time.Millisecond).String())
	}
	n.failing, n.etcdErr = time.Time{}, ""
}

// failed notes that etcd did not answer (unless the node is closing).
func (n *Node) failed(err error) {
	if n.ctx.Err() != nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.failing.IsZero() {
		n.failing = time.Now()
		n.cfg.Log.Warn("cluster: etcd does not answer", "err", err)
	}
	n.etcdErr = err.Error()
}

// probeEvery is how often a node asks etcd whether it is there: often
// enough to fence within 2/3 of a lease.
func (n *Node) probeEvery() time.Duration {
	return min(max(time.Duration(n.cfg.SessionTTL)*time.Second/4, 100*time.Millisecond), time.Second)
}

// probe reads this node's membership key on a short period: the contact
// that fencing and Contact measure. A session's keepalives say nothing
// until the lease is already gone.
func (n *Node) probe() {
	defer n.wg.Done()
	t := time.NewTicker(n.probeEvery())
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(n.ctx), time.Duration(n.cfg.SessionTTL)*time.Second/3)
		_, err := n.cli.Get(ctx, n.keys.member(n.cfg.Node))
		cancel()
		if err != nil {
			n.failed(err)
		} else {
			n.answered()
		}
	}
}

// Contact says whether etcd has answered this node within 2/3 of its
// lease, from its own state alone.
func (n *Node) Contact() ctl.ClusterContact {
	n.mu.Lock()
	quiet := time.Since(n.heard)
	n.mu.Unlock()
	limit := time.Duration(n.cfg.SessionTTL) * time.Second * 2 / 3
	return ctl.ClusterContact{Node: n.cfg.Node, CutOff: quiet > limit, Quiet: quiet.Round(time.Millisecond).String()}
}

// Close leaves the cluster: it stops every goroutine of the node and
// waits for them (a pull's commit never reaches a closed store), then
// revokes the membership lease.
func (n *Node) Close() error {
	n.cancel()
	n.wg.Wait()
	n.mu.Lock()
	s := n.session
	n.session = nil
	n.mu.Unlock()
	if s != nil {
		// Orphan, then revoke with a bound of our own: the session's
		// context is n.ctx, which has ended.
		s.Orphan()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		n.cli.Revoke(ctx, s.Lease())
		cancel()
	}
	return n.cli.Close()
}

func (n *Node) nudge() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// memoryName is the store setting that holds what this node applied,
// per ref, in its cluster.
func (n *Node) memoryName() string { return "cluster-applied:" + n.cfg.Name }

// recall reads what this node applied before (a restart), per ref.
func (n *Node) recall() error {
	var m map[string]reportValue
	err := n.local.Store().Setting(n.memoryName(), &m)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("what this node applied: %w", err)
	}
	for ref, r := range m {
		if store.CheckLabel(ref) != nil || r.check() != nil {
			continue
		}
		n.ref(ref).applied = r
	}
	return nil
}

// remember keeps what this node applied, per ref, in its store.
func (n *Node) remember() error {
	n.mu.Lock()
	m := make(map[string]reportValue, len(n.refs))
	for ref, rs := range n.refs {
		if rs.applied.Gen > 0 {
			m[ref] = rs.applied
		}
	}
	n.mu.Unlock()
	return n.local.Store().SetSetting(n.memoryName(), m)
}

// ref returns ref's state, made on first use; n.mu is held, or the node
// is not yet running.
func (n *Node) ref(ref string) *refState {
	rs := n.refs[ref]
	if rs == nil {
		rs = &refState{wake: make(chan struct{}, 1)}
		n.refs[ref] = rs
	}
	return rs
}
