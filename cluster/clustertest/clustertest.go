// Package clustertest runs a fleet in one process for tests: an embedded
// etcd on loopback, and nodes each with a store in a temporary directory,
// the cluster protocol, and the peer listener's handlers on loopback. No
// FUSE and no root: what a node serves is its store's refs.
//
// Words: a Fleet is the etcd and its nodes; a Node is one member, which
// can be stopped (Stop, as a crash would leave its store) and started
// again on the same store.
package clustertest

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vfs-project/vfs/cluster"
	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/ctl/ctltest"
	"github.com/vfs-project/vfs/precompress"
	"github.com/vfs-project/vfs/sign"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Etcd is an embedded etcd on loopback ports, which a test can stop and
// start again (its data stays in its directory).
type Etcd struct {
	Endpoint string
	cfg      *embed.Config
	mu       sync.Mutex
	e        *embed.Etcd
}

// StartEtcd starts an embedded etcd and stops it when the test ends.
func StartEtcd(t testing.TB) *Etcd {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	cfg.LogLevel = "fatal"
	client, peer := freeURL(t), freeURL(t)
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	e := &Etcd{Endpoint: client.String(), cfg: cfg}
	e.Start(t)
	t.Cleanup(e.Stop)
	return e
}

// Start starts etcd (again).
func (e *Etcd) Start(t testing.TB) {
	t.Helper()
	s, err := embed.StartEtcd(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Server.ReadyNotify():
	case <-time.After(20 * time.Second):
		t.Fatal("etcd did not start")
	}
	e.mu.Lock()
	e.e = s
	e.mu.Unlock()
}

// Stop stops etcd, if it runs.
func (e *Etcd) Stop() {
	e.mu.Lock()
	s := e.e
	e.e = nil
	e.mu.Unlock()
	if s != nil {
		s.Close()
	}
}

// Backup stops etcd, copies its data directory (a backup taken while it
// is stopped is whole), starts it again, and returns the copy.
func (e *Etcd) Backup(t testing.TB) string {
	t.Helper()
	e.Stop()
	dst := filepath.Join(t.TempDir(), "backup")
	if out, err := exec.Command("cp", "-a", e.cfg.Dir, dst).CombinedOutput(); err != nil {
		t.Fatalf("back up etcd: %v: %s", err, out)
	}
	e.Start(t)
	return dst
}

// Restore stops etcd, replaces its data with a backup, and starts it.
func (e *Etcd) Restore(t testing.TB, backup string) {
	t.Helper()
	e.Stop()
	if err := os.RemoveAll(e.cfg.Dir); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", backup, e.cfg.Dir).CombinedOutput(); err != nil {
		t.Fatalf("restore etcd: %v: %s", err, out)
	}
	e.Start(t)
}

// Dir is etcd's data directory.
func (e *Etcd) Dir() string { return e.cfg.Dir }

// Client is a client of this etcd, closed when the test ends: for tests
// that write values straight into etcd.
func (e *Etcd) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func freeURL(t testing.TB) url.URL {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	u, _ := url.Parse("http://" + l.Addr().String())
	return *u
}

// Options shape a fleet.
type Options struct {
	Cluster string // "web" when empty
	TTL     int    // the session lease in seconds (2 when zero)
	// Hooks run on every node after each activation (vfsd --hook).
	Hooks []string
	// ReleaseHooks run once per release on its coordinator
	// (vfsd --cluster-hook).
	ReleaseHooks []string
	// Wrap, if set, stands between node name's cluster protocol and its
	// store (to slow or watch what the protocol does to it).
	Wrap func(name string, l cluster.Local) cluster.Local
	// PeerIdle is the progress deadline of pulls (ctl.DefaultPeerIdle
	// when zero).
	PeerIdle time.Duration
	// PeerTLS: members talk mutual TLS on their peer listeners (vfsd
	// --peer-tls-*), with certificates of a CA of the fleet's.
	PeerTLS bool
	// AllowedSigners, if set, is every node's signing policy (vfsd
	// --allowed-signers).
	AllowedSigners string
}

// Fleet is an etcd and the nodes of one cluster.
type Fleet struct {
	T     testing.TB
	Etcd  *Etcd
	Opts  Options
	mu    sync.Mutex
	nodes map[string]*Node

	serverTLS, clientTLS *tls.Config // with PeerTLS
}

// New starts etcd and nodes n1..nN.
func New(t testing.TB, n int, o Options) *Fleet {
	t.Helper()
	if o.Cluster == "" {
		o.Cluster = "web"
	}
	if o.TTL == 0 {
		o.TTL = 2
	}
	f := &Fleet{T: t, Etcd: StartEtcd(t), Opts: o, nodes: map[string]*Node{}}
	if o.PeerTLS {
		dir := t.TempDir()
		ctltest.PeerCerts(t, dir, "member")
		var err error
		f.serverTLS, f.clientTLS, err = ctl.PeerTLS(filepath.Join(dir, "member.pem"), filepath.Join(dir, "member-key.pem"), filepath.Join(dir, "ca.pem"))
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= n; i++ {
		f.Start(fmt.Sprintf("n%d", i))
	}
	return f
}

// Node is one member.
type Node struct {
	Name  string
	Dir   string
	Peer  string
	Local *ctl.Local
	Node  *cluster.Node
	Log   *Buffer
	// Hooked counts the node hooks run (a file the hook appends to).
	HookFile string
	// Socket is the node's control socket (the whole API, as vfsctl
	// meets it).
	Socket  string
	srv     *ctl.Server
	ln      net.Listener
	sock    *net.UnixListener
	stopped bool
}

// Buffer is a log that goroutines write to and a test reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Node returns the node called name.
func (f *Fleet) Node(name string) *Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nodes[name]
}

// Start starts node name: a new one, or one stopped before, on its store.
func (f *Fleet) Start(name string) *Node {
	t := f.T
	t.Helper()
	n, err := f.TryStart(name)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return n
}

// TryStart is Start that returns the error of the join.
func (f *Fleet) TryStart(name string) (*Node, error) {
	t := f.T
	f.mu.Lock()
	n := f.nodes[name]
	f.mu.Unlock()
	if n == nil {
		n = &Node{Name: name, Dir: t.TempDir(), Log: &Buffer{}}
		n.HookFile = filepath.Join(n.Dir, "hooks")
	} else if !n.stopped {
		t.Fatalf("%s runs already", name)
	}
	local, err := ctl.OpenLocal(filepath.Join(n.Dir, "store"), snapshot.Who{UID: os.Getuid()}, true)
	if err != nil {
		return nil, err
	}
	comp, _ := precompress.New(nil) // as vfsd by default
	local.Store().SetCompressor(comp)
	log := slog.New(slog.NewTextHandler(n.Log, nil)).With("node", name)
	if f.Opts.AllowedSigners != "" {
		if local.Signing, err = sign.NewPolicy(f.Opts.AllowedSigners, nil); err != nil {
			local.Close()
			return nil, err
		}
	}
	if len(f.Opts.Hooks) > 0 {
		cmds := append([]string{"echo \"$VFS_TO\" >> " + n.HookFile}, f.Opts.Hooks...)
		local.Hooks = &ctl.Hooks{Commands: cmds, Timeout: time.Minute, Log: log}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		local.Close()
		return nil, err
	}
	cfg := cluster.Config{Name: f.Opts.Cluster, Node: name, Endpoints: []string{f.Etcd.Endpoint}, Peer: ln.Addr().String(),
		SessionTTL: f.Opts.TTL, Log: log, Peers: ctl.PeerOptions{Idle: f.Opts.PeerIdle, TLS: f.clientTLS}}
	if len(f.Opts.ReleaseHooks) > 0 {
		h := &ctl.Hooks{Commands: f.Opts.ReleaseHooks, Timeout: time.Minute, Log: log}
		cfg.ReleaseHooks = h.Run
	}
	var cl cluster.Local = local
	if f.Opts.Wrap != nil {
		cl = f.Opts.Wrap(name, local)
	}
	node, err := cluster.Join(context.Background(), cfg, cl)
	if err != nil {
		ln.Close()
		local.Close()
		return nil, err
	}
	local.Cluster = node
	// A short path: a socket's may not pass 107 bytes.
	sockDir, err := os.MkdirTemp("", "vfsct")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	n.Socket = filepath.Join(sockDir, "sock")
	sock, err := net.ListenUnix("unix", &net.UnixAddr{Name: n.Socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	srv := ctl.NewServer(local, log)
	srv.Peers.TLS = f.serverTLS
	go srv.ServePeers(ln)
	go srv.Serve(sock)
	n.Peer, n.Local, n.Node, n.srv, n.ln, n.sock, n.stopped = ln.Addr().String(), local, node, srv, ln, sock, false
	f.mu.Lock()
	f.nodes[name] = n
	f.mu.Unlock()
	t.Cleanup(n.Stop)
	return n, nil
}

// Stop takes the node down: it leaves the cluster, its peer listener
// closes, its store closes. Its store stays for a Start.
func (n *Node) Stop() {
	if n.stopped {
		return
	}
	n.stopped = true
	n.Node.Close()
	n.srv.Shutdown(time.Second)
	n.ln.Close()
	n.sock.Close()
	n.Local.Close()
}

// Import imports files (path -> content) as a snapshot with labels.
func (n *Node) Import(t testing.TB, files map[string]string, labels ...string) store.Ref {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := snapshot.Import(context.Background(), n.Local, dir, snapshot.ImportOptions{Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	return res.Snapshot.ID
}

// Client is a client of the node's control socket, closed when the test
// ends.
func (n *Node) Client(t testing.TB) *ctl.Client {
	t.Helper()
	c, err := ctl.Dial(context.Background(), n.Socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Serves is what the node serves under ref (zero: nothing).
func (n *Node) Serves(t testing.TB, ref string) store.Ref {
	t.Helper()
	refs, err := n.Local.NamedRefs()
	if err != nil {
		t.Fatal(err)
	}
	return refs[ref]
}

// Activate asks the node to release id under ref across the cluster.
func (n *Node) Activate(ref string, id store.Ref, wait time.Duration, abort bool) (ctl.ClusterActivation, error) {
	return n.Node.Activate(context.Background(), ctl.ClusterRelease{Ref: ref, ID: id, Reason: "test release", Who: snapshot.Who{UID: 1000, User: "deployer"},
		Wait: wait, Abort: abort})
}

// Ready asks the node whether it is ready.
func (n *Node) Ready() (bool, string) { return n.Node.Ready(context.Background()) }

// Hooks lists the snapshots the node's hooks ran for, in order.
func (n *Node) Hooks() []string {
	b, _ := os.ReadFile(n.HookFile)
	return strings.Fields(string(b))
}

// Eventually waits up to timeout for cond, and fails the test with cond's
// last word if it never holds.
func Eventually(t testing.TB, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// AllServe waits until every node given serves id under ref and is ready.
func AllServe(t testing.TB, timeout time.Duration, ref string, id store.Ref, nodes ...*Node) {
	t.Helper()
	Eventually(t, timeout, func() (bool, string) {
		for _, n := range nodes {
			if got := n.Serves(t, ref); got != id {
				return false, fmt.Sprintf("%s serves %s, want %s", n.Name, short(got), short(id))
			}
			if ok, why := n.Ready(); !ok {
				return false, fmt.Sprintf("%s not ready: %s", n.Name, why)
			}
		}
		return true, ""
	})
}

func short(r store.Ref) string {
	if r.IsZero() {
		return "none"
	}
	return r.Short()
}
