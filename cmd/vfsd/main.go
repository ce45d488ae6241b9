// Command vfsd serves a vfs store as a read-only FUSE docroot for an
// unmodified web server, and answers vfsctl on a control socket.
// docs/operations.md explains how to run it.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"github.com/vfs-project/vfs/cmd/internal/flagval"
	"github.com/vfs-project/vfs/cmd/internal/version"
	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/precompress"
)

// config is vfsd's configuration, built from flags and environment here and
// passed down; nothing below cmd/ reads either.
type config struct {
	store        string
	mount        string
	socket       string
	socketGroup  string
	access       string
	allowOther   bool
	debug        bool
	cacheTimeout time.Duration
	unmountWait  time.Duration
	grace        time.Duration
	hooks        []string
	clusterHooks []string
	hookTimeout  time.Duration
	metrics      string
	importLease  time.Duration
	maxNodes     int
	memoryLimit  int
	pprof        string
	peerListen   string
	peerAddr     string
	peerCert     string
	peerKey      string
	peerCA       string
	peerConns    int
	signers      string
	unsignedRefs []string
	compress     bool
	compressExts []string
	cluster      string
	node         string
	etcd         []string
	clusterLease time.Duration
	etcdCA       string
	etcdCert     string
	etcdKey      string
	etcdUser     string
	webUser      string
	version      bool
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// defineFlags defines vfsd's flags on fs, writing into c.
func defineFlags(fs *pflag.FlagSet, c *config) {
	fs.StringVar(&c.store, "store", envOr("VFS_STORE", "/var/lib/vfs"), "store directory (environment VFS_STORE)")
	fs.StringVar(&c.mount, "mount", envOr("VFS_MOUNT", ""), "mount point, an empty directory (environment VFS_MOUNT; required)")
	fs.StringVar(&c.socket, "socket", envOr("VFS_SOCKET", "/run/vfs/vfsd.sock"), "control socket for vfsctl --socket (environment VFS_SOCKET)")
	fs.StringVar(&c.socketGroup, "socket-group", "", "group that may use the control socket (mode 0660); default: the daemon's group")
	fs.StringVar(&c.access, "access", "", "rules of who may do what on the control socket, one a line: WHO ROLE [REF...] (user:NAME or group:NAME; read, deploy or admin; docs/security.md); default: the socket's group is admin")
	fs.BoolVar(&c.allowOther, "allow-other", os.Getuid() == 0, "let other users (the web server's worker user) read the mount; default on when run as root")
	fs.BoolVar(&c.debug, "debug", false, "log every FUSE request (very verbose)")
	flagval.DurationVar(fs, &c.cacheTimeout, "cache-timeout", time.Hour, "how long the kernel caches entries and attributes (snapshots never change; /current is invalidated on activation)")
	flagval.DurationVar(fs, &c.grace, "grace", 7*24*time.Hour, "how long after a snapshot stops being a ref's target its assets stay reachable under that ref (asset carry-over); 0 turns carry-over off")
	fs.StringArrayVar(&c.hooks, "hook", nil, "command run with sh -c after each activation, with VFS_REF, VFS_FROM, VFS_TO set (repeatable); a failure is logged and reported to vfsctl, and the activation stands. In a cluster it runs on every node, after the node reported the release applied")
	fs.StringArrayVar(&c.clusterHooks, "cluster-hook", nil, "with --cluster: command run once per release, on the node that coordinated it, after every member applied it (a CDN purge), with VFS_REF, VFS_FROM, VFS_TO set (repeatable)")
	flagval.DurationVar(fs, &c.hookTimeout, "hook-timeout", 30*time.Second, "how long a hook may run before it is killed and reported as failed")
	fs.StringVar(&c.metrics, "metrics-listen", "", "serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9101 (off by default)")
	flagval.DurationVar(fs, &c.unmountWait, "unmount-wait", 30*time.Second, "at shutdown, how long to wait for requests under way on the socket, then for files still open through the mount; vfsd exits within twice this plus 30s whatever happens")
	fs.StringVar(&c.pprof, "pprof-listen", "", "serve Go's profiles at http://ADDR/debug/pprof/, e.g. 127.0.0.1:6060 (off by default; they show the daemon's internals, keep it on loopback)")
	fs.IntVar(&c.maxNodes, "max-nodes", 100000, "how many names below snapshots and /a/ the kernel may keep looked up at once; past it the oldest are invalidated, which bounds vfsd's memory (about 1 KiB of RSS each); 0: no bound")
	fs.IntVar(&c.memoryLimit, "memory-limit", -1, "soft limit on the daemon's Go memory, in MiB: the collector runs more often near it instead of letting RSS grow to twice what is live; default 64 plus 1 KiB per --max-nodes (162 at the default), none when --max-nodes is 0; 0: none (GOMEMLIMIT in the environment takes precedence)")
	fs.StringVar(&c.webUser, "web-user", "", "the user the web server reads the mount as, checked at start (a warning when it cannot reach the mount); default www-data, else nobody")
	fs.BoolVar(&c.version, "version", false, "print vfsd's version and exit")
	fs.StringVar(&c.cluster, "cluster", "", "join this cluster (docs/cluster.md): refs switch on every member together; needs --node, --etcd and --peer-listen")
	fs.StringVar(&c.node, "node", "", "this node's name in --cluster (default: the host name)")
	flagval.DurationVar(fs, &c.clusterLease, "cluster-lease", 10*time.Second, "with --cluster, the etcd lease of this node's membership: a node silent this long is no longer a member")
	fs.StringSliceVar(&c.etcd, "etcd", nil, "etcd endpoints for --cluster, e.g. https://10.0.0.1:2379,https://10.0.0.2:2379")
	fs.StringVar(&c.etcdCA, "etcd-ca", "", "with --cluster, the CA certificate (PEM) that etcd's server certificate must chain to; https endpoints")
	fs.StringVar(&c.etcdCert, "etcd-cert", "", "with --cluster, this node's client certificate (PEM) for etcd's client certificate authentication; needs --etcd-key")
	fs.StringVar(&c.etcdKey, "etcd-key", "", "the private key (PEM) of --etcd-cert")
	fs.StringVar(&c.etcdUser, "etcd-user", "", "with --cluster, the etcd user to authenticate as; its password is read from the environment variable VFS_ETCD_PASSWORD")
	fs.StringVar(&c.signers, "allowed-signers", "", "serve only snapshots with a valid signature from a key in this file (OpenSSH's allowed_signers format, namespace vfs; docs/security.md \"Signed releases\"); re-read on SIGHUP and when it changes")
	fs.StringSliceVar(&c.unsignedRefs, "unsigned-refs", nil, "with --allowed-signers, refs that may serve unsigned snapshots (patterns, e.g. preview-*; default: none)")
	fs.StringVar(&c.peerListen, "peer-listen", "", "serve the read-only object endpoints (docs/api.md) on this TCP address, e.g. 10.0.0.5:7007 (off by default; without --peer-tls-*, anyone who reaches it can read any object whose hash they know, private contents aside)")
	fs.StringVar(&c.peerCert, "peer-tls-cert", "", "mutual TLS between members (docs/cluster.md): this node's certificate (PEM), signed by --peer-tls-ca and naming the host of --peer-advertise; the peer listener then refuses clients without such a certificate, and this node's pulls present it")
	fs.StringVar(&c.peerKey, "peer-tls-key", "", "the private key (PEM) of --peer-tls-cert")
	fs.StringVar(&c.peerCA, "peer-tls-ca", "", "the cluster's CA certificate (PEM), which signed every member's --peer-tls-cert")
	fs.IntVar(&c.peerConns, "peer-conns-per-host", ctl.DefaultPeerConnsPerHost, "open connections the peer listener allows one host (more are closed at once; vfs_peer_rejected_total)")
	fs.StringVar(&c.peerAddr, "peer-advertise", "", "with --cluster, the host:port other members reach --peer-listen at (default: --peer-listen itself, which must then not be a wildcard such as 0.0.0.0)")
	fs.BoolVar(&c.compress, "compress", true, "make .br and .gz variants of the text files new to the store at each import's commit, on every core, for the web server's gzip_static, brotli_static or precompressed (docs/operations.md \"Precompressed files\"); an import with --no-compress makes none")
	fs.StringSliceVar(&c.compressExts, "compress-types", nil, "extensions --compress compresses, e.g. .js,.css,.html (default: "+strings.Join(defaultCompressTypes(), ",")+")")
	flagval.DurationVar(fs, &c.importLease, "import-lease", time.Minute, "how long an import through the socket may send nothing before it is aborted (its objects are then left to gc)")
}

func parseFlags(args []string) (*config, error) {
	c := &config{}
	fs := pflag.NewFlagSet("vfsd", pflag.ContinueOnError)
	defineFlags(fs, c)
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: vfsd --mount DIR [flags]\n\nvfsd mounts the store's snapshots read-only at DIR for a web server:\n"+
			"  DIR/current/          the snapshot ref current points at (vfsctl activate)\n"+
			"  DIR/refs/<name>/      the snapshot any other ref points at\n"+
			"  DIR/snapshots/<id>/   every snapshot by full id\n"+
			"  DIR/labels/<label>/   every labelled snapshot\n"+
			"  DIR/at/<time>/        what current served at an RFC 3339 instant\n"+
			"  DIR/at/<time>@<ref>/  what another ref served then\n"+
			"  DIR/a/<hash>[.ext]    any stored file by content hash\n\n"+
			"It runs in the foreground and logs to standard error. It is ready when the\n"+
			"control socket answers (vfsctl --socket PATH status). SIGTERM or SIGINT\n"+
			"unmounts, waits for the FUSE server, then closes the store.\n\nFlags:\n%s", fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.version {
		return c, nil
	}
	if c.cluster != "" {
		if c.node == "" {
			c.node, _ = os.Hostname()
		}
		if len(c.etcd) == 0 || c.peerListen == "" {
			return nil, errors.New("--cluster needs --etcd and --peer-listen (other members pull objects from it)")
		}
		if c.peerAddr == "" {
			c.peerAddr = c.peerListen
		}
		if (c.etcdCert == "") != (c.etcdKey == "") {
			return nil, errors.New("--etcd-cert and --etcd-key go together")
		}
		if c.etcdUser != "" && os.Getenv("VFS_ETCD_PASSWORD") == "" {
			return nil, errors.New("--etcd-user: set its password in the environment variable VFS_ETCD_PASSWORD")
		}
		if host, _, err := net.SplitHostPort(c.peerAddr); err != nil || host == "" || net.ParseIP(host).IsUnspecified() {
			return nil, fmt.Errorf("--peer-advertise %q: other members need a host:port they can reach (give --peer-advertise when --peer-listen is a wildcard)", c.peerAddr)
		}
	}
	if set := btoi(c.peerCert != "") + btoi(c.peerKey != "") + btoi(c.peerCA != ""); set != 0 && set != 3 {
		return nil, errors.New("--peer-tls-cert, --peer-tls-key and --peer-tls-ca go together")
	}
	if _, err := precompress.New(c.compressExts); err != nil {
		return nil, fmt.Errorf("--compress-types: %w", err)
	}
	if len(c.unsignedRefs) > 0 && c.signers == "" {
		return nil, errors.New("--unsigned-refs needs --allowed-signers")
	}
	if c.mount == "" || fs.NArg() > 0 {
		fs.Usage()
		return nil, errors.New("--mount is required and no arguments are taken")
	}
	return c, nil
}

// defaultCompressTypes lists precompress.DefaultExtensions' extensions.
func defaultCompressTypes() []string {
	var out []string
	for _, t := range precompress.DefaultExtensions {
		out = append(out, t.Extension)
	}
	return out
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// memoryLimitBytes returns the soft memory limit to set, 0 for none. What
// is live is bounded (nodes by --max-nodes at about 700 bytes of heap
// each, the tree cache, Badger's caches: about 100 MiB at the default),
// but with the collector's default pacing the heap ran to 2.5 times what
// was live (docs/benchmarks.md).
func (c *config) memoryLimitBytes() int64 {
	switch {
	case c.memoryLimit >= 0:
		return int64(c.memoryLimit) << 20
	case c.maxNodes <= 0:
		return 0
	default:
		return 64<<20 + int64(c.maxNodes)<<10
	}
}

func main() {
	ctl.BuildVersion = version.String()
	c, err := parseFlags(os.Args[1:])
	if errors.Is(err, pflag.ErrHelp) {
		os.Exit(0)
	}
	if c != nil && c.version {
		fmt.Println("vfsd", ctl.BuildVersion)
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "vfsd: %v\n", err)
		os.Exit(2)
	}
	level := slog.LevelInfo
	if c.debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if limit := c.memoryLimitBytes(); limit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	finished := make(chan struct{})
	go exitWithin(ctx, c.shutdownBound(), finished, log)
	err = run(ctx, c, log)
	close(finished)
	if err != nil {
		log.Error("vfsd failed", "err", err)
		os.Exit(1)
	}
}

// shutdownBound is how long vfsd may take to stop once asked: the wait
// for requests, the wait for open files, and 30 s for the rest (the
// cluster's goodbye, closing the store).
func (c *config) shutdownBound() time.Duration { return 2*c.unmountWait + 30*time.Second }

// exitWithin ends the process if run has not returned within bound of a
// stop signal. Each step of the shutdown is bounded on its own; this is
// the bound on all of them, whatever state requests left the daemon in
// (once, a daemon that had answered crafted requests logged "unmounted"
// and never exited). A store left open recovers at its next open, as
// after a crash; a mount left behind is cleared at the next start.
func exitWithin(ctx context.Context, bound time.Duration, finished <-chan struct{}, log *slog.Logger) {
	select {
	case <-finished:
		return
	case <-ctx.Done():
	}
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-finished:
	case <-t.C:
		log.Error("shutdown did not finish in time: exiting without closing the store (it recovers at the next start, as after a crash)", "bound", bound)
		os.Exit(1)
	}
}
