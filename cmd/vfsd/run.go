package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vfs-project/vfs/cluster"
	"github.com/vfs-project/vfs/ctl"
	vfs "github.com/vfs-project/vfs/fs"
	"github.com/vfs-project/vfs/precompress"
	"github.com/vfs-project/vfs/sign"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
	"go.etcd.io/etcd/client/pkg/v3/transport"
)

// run serves until ctx is cancelled. Order matters: the socket opens only
// once the mount is live (that is the readiness signal), and shutdown goes
// stop accepting, hang up on clients and wait for their requests, unmount,
// wait for the FUSE server, close the store. No request can then reach a
// closed notifier or store.
func run(ctx context.Context, c *config, log *slog.Logger) (err error) {
	var access *ctl.Access
	if c.access != "" {
		// Read first: a rule file with a mistake stops vfsd before it
		// mounts anything, naming the line.
		f, err := os.Open(c.access)
		if err != nil {
			return fmt.Errorf("--access: %w", err)
		}
		access, err = ctl.ParseAccess(f, c.access, func(w string) { log.Warn("--access: " + w) })
		f.Close()
		if err != nil {
			return fmt.Errorf("--access: %w", err)
		}
		log.Info("control socket rules", "file", c.access, "rules", len(access.Rules))
	}
	var signing *sign.Policy
	if c.signers != "" {
		// Read first too: a file with a syntax error stops vfsd, naming
		// the line.
		if signing, err = sign.NewPolicy(c.signers, c.unsignedRefs); err != nil {
			return fmt.Errorf("--allowed-signers: %w", err)
		}
		log.Info("signing policy", "allowed_signers", c.signers, "keys", len(signing.Signers().Signers), "unsigned_refs", c.unsignedRefs)
	}
	// A start that fails leaves nothing it made behind: not a new store
	// (a typo would otherwise leave an empty one to find later), not a
	// mount point. Registered first, so it runs after the store is closed.
	var made []string
	ready := false
	defer func() {
		if err != nil && !ready {
			for _, dir := range made {
				os.RemoveAll(dir)
			}
		}
	}()
	for _, d := range []struct {
		path string
		perm os.FileMode
	}{{c.store, 0o700}, {c.mount, 0o755}} {
		top, err := mkdirs(d.path, d.perm)
		if err != nil {
			return err
		}
		if top != "" {
			made = append(made, top)
		}
	}
	local, err := ctl.OpenLocal(c.store, snapshot.Who{}, true)
	if err != nil {
		return err
	}
	storeInUse := false
	defer func() {
		if storeInUse {
			// Closing Badger under a running request could crash; an
			// unclosed store recovers at its next open like a crash.
			log.Error("store not closed: requests or reads still running")
			return
		}
		if err := local.Close(); err != nil {
			log.Error("close store", "err", err)
		}
	}()
	if c.compress {
		comp, err := precompress.New(c.compressExts)
		if err != nil {
			return fmt.Errorf("--compress-types: %w", err)
		}
		local.Store().SetCompressor(comp)
	}
	if local.Store().ReadOnly() {
		log.Warn("the store's file system is full: serving read-only; imports and activations are refused until vfsd restarts with room", "store", c.store)
	}
	classes, err := local.Classes(ctx)
	if err != nil {
		return err
	}
	var m *metrics
	var fsMetrics vfs.Metrics
	if c.metrics != "" {
		m = newMetrics(local)
		fsMetrics = m
		ml, err := m.serve(c.metrics, log)
		if err != nil {
			return err
		}
		defer ml.Close()
	}
	if c.pprof != "" {
		pl, err := servePprof(c.pprof, log)
		if err != nil {
			return err
		}
		defer pl.Close()
	}
	local.Signing = signing
	fcfg := vfs.Config{Logger: log, Grace: c.grace, Classes: classes, Metrics: fsMetrics, MaxNodes: c.maxNodes}
	if signing != nil {
		fcfg.Carries = local.Carries
	}
	// SIGHUP re-reads what can be re-read, and never ends vfsd: a reload
	// sent out of habit (systemctl reload) must not take the site down.
	go watchSigners(ctx, signing, log)
	fsys, err := vfs.New(local.Store(), fcfg)
	if err != nil {
		return fmt.Errorf("read refs: %w", err)
	}
	mnt, err := vfs.Mount(c.mount, fsys, vfs.MountConfig{AllowOther: c.allowOther, Timeout: c.cacheTimeout, Debug: c.debug, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		if err := mnt.Unmount(c.unmountWait); err != nil {
			log.Error("unmount", "err", err)
			// The FUSE server may still read the store for files
			// held open on the detached mount.
			storeInUse = true
		}
		log.Info("unmounted", "mount", c.mount)
	}()
	l, gid, err := listen(c.socket, c.socketGroup)
	if err != nil {
		return err
	}
	defer os.Remove(c.socket)
	local.FS = fsys
	if m != nil {
		local.Events = m
	}
	if len(c.hooks) > 0 {
		local.Hooks = &ctl.Hooks{Commands: c.hooks, Timeout: c.hookTimeout, Log: log}
	}
	local.Mount, local.PID = c.mount, os.Getpid()
	local.ImportLease = c.importLease
	local.Grace = c.grace
	var peerServerTLS *tls.Config
	var peers ctl.PeerOptions
	if c.peerCert != "" {
		var err error
		if peerServerTLS, peers.TLS, err = ctl.PeerTLS(c.peerCert, c.peerKey, c.peerCA); err != nil {
			l.Close()
			return fmt.Errorf("--peer-tls-*: %w", err)
		}
	}
	if c.cluster != "" {
		cfg := cluster.Config{Peers: peers, Name: c.cluster, Node: c.node, Endpoints: c.etcd, Peer: c.peerAddr, SessionTTL: int(max(c.clusterLease/time.Second, 1)), Log: log,
			Username: c.etcdUser, Password: os.Getenv("VFS_ETCD_PASSWORD")}
		if c.etcdCA != "" || c.etcdCert != "" {
			// etcd's own loader: the same checks its client tools make.
			tc, err := transport.TLSInfo{TrustedCAFile: c.etcdCA, CertFile: c.etcdCert, KeyFile: c.etcdKey}.ClientConfig()
			if err != nil {
				l.Close()
				return fmt.Errorf("--etcd-ca, --etcd-cert, --etcd-key: %w", err)
			}
			cfg.TLS = tc
		}
		if m != nil {
			cfg.Rejected = m.pullRejected.Inc
			cfg.Stalled = m.pullStalled.Inc
		}
		if len(c.clusterHooks) > 0 {
			h := &ctl.Hooks{Commands: c.clusterHooks, Timeout: c.hookTimeout, Log: log}
			cfg.ReleaseHooks = h.Run
		}
		node, err := cluster.Join(ctx, cfg, local)
		if err != nil {
			l.Close()
			return err
		}
		defer node.Close()
		local.Cluster = node
		if m != nil {
			m.watchCluster(node)
		}
		log.Info("joined cluster", "cluster", c.cluster, "node", c.node, "etcd", c.etcd)
	}
	srv := ctl.NewServer(local, log)
	srv.AllowGroup(gid)
	if access != nil {
		srv.SetAccess(access)
	}
	srv.Peers = ctl.PeerLimits{TLS: peerServerTLS, ConnsPerHost: c.peerConns}
	if m != nil {
		srv.Peers.Rejected = func(reason string) { m.peerRejected.WithLabelValues(reason).Inc() }
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vfs_peer_sent_bytes_total",
			Help: "Response bytes the peer listener sent: what other members (and vfsctl snapshot pull) fetched from this node."},
			func() float64 { return float64(srv.PeerBytesSent()) }))
	}
	served := make(chan error, 2)
	go func() { served <- srv.Serve(l) }()
	if c.peerListen != "" {
		pl, err := net.Listen("tcp", c.peerListen)
		if err != nil {
			l.Close()
			srv.Shutdown(c.unmountWait)
			return fmt.Errorf("--peer-listen: %w", err)
		}
		defer pl.Close()
		go func() { served <- srv.ServePeers(pl) }()
		log.Info("serving objects to peers", "addr", pl.Addr().String(), "mutual_tls", peerServerTLS != nil)
	}
	refs, _ := local.NamedRefs()
	// Under systemd (Type=notify) this is the readiness signal; elsewhere
	// it does nothing.
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.Warn("sd_notify", "err", err)
	}
	if u, ok := webUser(c.webUser); !ok {
		log.Warn("no web server user to check the mount against", "web_user", c.webUser)
	} else if !c.allowOther && u.Uid != strconv.Itoa(os.Getuid()) {
		log.Warn("without --allow-other only vfsd's own user reads the mount: the web server's user will get 403", "user", u.Username)
	} else if err := reachable(c.mount, u); err != nil {
		log.Warn("the web server's user cannot reach the mount: it will answer 403 (make the directories on the way searchable, or name its user with --web-user)", "user", u.Username, "err", err)
	}
	ready = true
	log.Info("ready", "mount", c.mount, "socket", c.socket, "store", c.store, "current", shortRef(refs[vfs.CurrentRef]), "grace", c.grace)
	select {
	case <-ctx.Done():
		log.Info("stopping")
		daemon.SdNotify(false, daemon.SdNotifyStopping)
	case err = <-served:
	}
	l.Close()
	if serr := srv.Shutdown(c.unmountWait); serr != nil {
		log.Error("stopping", "err", serr)
		storeInUse = true
	}
	return err
}

// mkdirs makes dir and its missing parents with perm, and returns the
// outermost directory it made ("" if dir existed).
func mkdirs(dir string, perm os.FileMode) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	top := ""
	for p := abs; ; p = filepath.Dir(p) {
		// Only a name that is not there is made: a stale mount (ENOTCONN
		// after a crash) is there, and vfs.Mount deals with it.
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			break
		}
		top = p
		if filepath.Dir(p) == p {
			break
		}
	}
	if top == "" {
		return "", nil
	}
	// Parents are made 0755, whatever dir's own mode: a 0700 parent of
	// the mount keeps the web server's user out of it.
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return "", fmt.Errorf("make %s: %w", dir, err)
	}
	if err := os.Mkdir(abs, perm); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("make %s: %w", dir, err)
	}
	return top, nil
}

// The mount is the control plane's one view of the file system.
var _ ctl.Mount = (*vfs.FS)(nil)

func shortRef(r store.Ref) string {
	if r.IsZero() {
		return "none"
	}
	return r.Short()
}

// listen creates the control socket, mode 0660, owned by group. A socket
// file left by a daemon that died is replaced; one that answers is not.
func listen(path, group string) (*net.UnixListener, int, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, 0, fmt.Errorf("control socket %s: %w", path, err)
	}
	if conn, err := net.Dial("unix", path); err == nil {
		conn.Close()
		return nil, 0, fmt.Errorf("control socket %s: another vfsd is answering on it", path)
	}
	// Only a stale socket is replaced: a typo must not delete a file.
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() != os.ModeSocket {
		return nil, 0, fmt.Errorf("control socket %s: exists and is not a socket (%s); refusing to replace it", path, fi.Mode().Type())
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, 0, fmt.Errorf("control socket %s: %w", path, err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, 0, fmt.Errorf("control socket %s: %w", path, err)
	}
	l.SetUnlinkOnClose(false) // removed by run, after the last request
	gid, err := secureSocket(path, group)
	if err != nil {
		l.Close()
		return nil, 0, err
	}
	return l, gid, nil
}

// secureSocket gives the socket to group (default: the daemon's) with
// mode 0660 and returns the group's id, whose members may act.
func secureSocket(path, group string) (int, error) {
	gid := os.Getgid()
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return 0, fmt.Errorf("--socket-group %s: %w", group, err)
		}
		if gid, err = strconv.Atoi(g.Gid); err != nil {
			return 0, fmt.Errorf("--socket-group %s: %w", group, err)
		}
	}
	if err := os.Chown(path, os.Getuid(), gid); err != nil {
		return 0, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		return 0, fmt.Errorf("control socket %s: %w", path, err)
	}
	return gid, nil
}

// watchSigners re-reads the allowed signers file (p; nil without one) on
// SIGHUP and when it changes (checked every 2 s), until ctx ends. A file
// that no longer parses leaves the keys as they were, and is logged.
func watchSigners(ctx context.Context, p *sign.Policy, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		why := "changed"
		select {
		case <-ctx.Done():
			return
		case <-hup:
			why = "SIGHUP"
			if p == nil {
				log.Info("SIGHUP: nothing to re-read (no --allowed-signers)")
				continue
			}
		case <-tick.C:
			if p == nil || !p.Changed() {
				continue
			}
		}
		if _, err := p.Reload(); err != nil {
			log.Error("allowed signers not re-read; the keys read before stay", "why", why, "err", err)
			continue
		}
		log.Info("allowed signers re-read", "why", why, "file", p.Path(), "keys", len(p.Signers().Signers))
	}
}
