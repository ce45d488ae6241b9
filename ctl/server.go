package ctl

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
	"golang.org/x/sys/unix"
)

// Server answers the API over HTTP: every endpoint on the control socket,
// the peer endpoints on an optional TCP listener.
type Server struct {
	base    *Local
	log     *slog.Logger
	group   int // besides root and the daemon's user, members may act; -1: none
	imports *imports

	ctx    context.Context // ends every request at shutdown
	cancel context.CancelFunc

	// BodyIdle and JSONBodyTime bound the wait for a request's body
	// (body.go); set before Serve.
	BodyIdle, JSONBodyTime time.Duration
	// Peers bound the peer listener's clients (peerserve.go); set before
	// ServePeers.
	Peers    PeerLimits
	peers    *peerGate
	peerSent atomic.Int64 // response bytes the peer listener wrote

	mu      sync.Mutex
	closed  bool
	access  *Access // nil: the socket's group decides
	servers []*http.Server
	running sync.WaitGroup // requests being handled
	active  atomic.Int64   // how many
}

// Requests is how many requests are being handled now.
func (s *Server) Requests() int { return int(s.active.Load()) }

// NewServer returns a server over base, which provides the store and the
// file system hooks; its Who is replaced per request by the peer's. Members
// of the daemon's group may act; AllowGroup changes that.
func NewServer(base *Local, log *slog.Logger) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{base: base, log: log, group: os.Getgid(), imports: newImports(base.ImportLease, log), ctx: ctx, cancel: cancel,
		BodyIdle: DefaultBodyIdle, JSONBodyTime: DefaultJSONBodyTime}
}

// AllowGroup lets members of group gid act (the control socket's group);
// -1 allows only root and the daemon's user.
func (s *Server) AllowGroup(gid int) { s.group = gid }

// session is one request's view of the daemon.
type session struct {
	srv   *Server
	local *Local
	who   snapshot.Who
	log   *slog.Logger
	// peer: the request came to the peer listener; member: with a
	// certificate the cluster's CA signed (peerserve.go).
	peer, member bool
}

// alone refuses to move a ref the cluster manages on this node alone,
// unless the caller asked for it (local): then it is logged, and the node
// reports the drift until the cluster's next release.
func (s *session) alone(what, ref string, local bool) error {
	c := s.local.Cluster
	if c == nil || !c.Manages(ref) {
		return nil
	}
	if !local {
		return fmt.Errorf("%s %s: the cluster manages this ref, and moving it on this node alone would make it drift from the other members: use --cluster to move it on every member, or --local for a deliberate exception on this node (it then answers 503 on /v1/ready until the next release): %w",
			what, ref, ErrManaged)
	}
	s.log.Warn("cluster: a ref the cluster manages moved on this node alone (--local); the node is not ready until the next release", "ref", ref, "uid", s.who.UID, "user", s.who.User)
	return nil
}

// peerKey finds a connection's credentials in a request's context.
type peerKey struct{}

type peerCred struct {
	who snapshot.Who
	gid int
	err error
}

// Serve answers the whole API on the control socket l until l is closed
// or Shutdown is called. Callers are known by SO_PEERCRED.
func (s *Server) Serve(l *net.UnixListener) error {
	hs := &http.Server{
		Handler:           s.handler(false),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, peerKey{}, credentials(c))
		},
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s.serve(hs, l)
}

// ServePeers answers the peer endpoints (objects and snapshot records,
// read-only) on l, a TCP listener, until it is closed or Shutdown is
// called, under s.Peers (peerserve.go). Without TLS, anyone who reaches l
// may read any object whose hash they know, private contents aside.
func (s *Server) ServePeers(l net.Listener) error {
	lim := s.Peers.withDefaults()
	g := &peerGate{lim: lim, conns: newHostCounts(lim.Conns, lim.ConnsPerHost), inFlight: newHostCounts(lim.InFlight, lim.InFlightOfHost)}
	s.mu.Lock()
	s.peers = g
	s.mu.Unlock()
	hs := &http.Server{
		Handler:           s.handler(true),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       lim.IdleConn,
		ErrorLog:          log.New(tlsErrors{slog.NewLogLogger(s.log.Handler(), slog.LevelWarn).Writer(), g}, "", 0),
	}
	l = limitListener{l, g}
	if lim.TLS != nil {
		hs.TLSConfig = lim.TLS
		l = tls.NewListener(l, lim.TLS)
	}
	return s.serve(hs, l)
}

func (s *Server) serve(hs *http.Server, l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.servers = append(s.servers, hs)
	s.mu.Unlock()
	err := hs.Serve(l)
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return fmt.Errorf("serve %s: %w", l.Addr(), err)
}

// ErrStillRunning: Shutdown's wait ended with requests still running.
var ErrStillRunning = errors.New("requests still running")

// Shutdown refuses new requests, hangs up on every client, ends the
// context of every request under way (their work stops at its next check)
// and aborts open imports, then waits up to wait for the requests to
// return. After a nil return no request touches the store or the file
// system again.
func (s *Server) Shutdown(wait time.Duration) error {
	s.mu.Lock()
	s.closed = true
	servers := s.servers
	s.mu.Unlock()
	s.cancel()
	for _, hs := range servers {
		hs.Close()
	}
	s.imports.close()
	done := make(chan struct{})
	go func() { s.running.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("control socket: %w after %s", ErrStillRunning, wait)
	}
}

// enter counts a request in, unless the server is shutting down.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.running.Add(1)
	s.active.Add(1)
	return true
}

// noSuchRoute begins the error of a request no endpoint serves: a client
// can tell an older daemon (a newer endpoint missing) from a missing
// object by it.
const noSuchRoute = "no such route"

func (s *Server) handler(peer bool) http.Handler {
	mux := http.NewServeMux()
	for _, e := range endpoints {
		if peer && !e.Peer {
			continue
		}
		mux.HandleFunc(e.Method+" "+e.Path, func(w http.ResponseWriter, r *http.Request) { s.handle(e, peer, w, r) })
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, fmt.Errorf("%s: %s %s (API %s, docs/api.md): %w", noSuchRoute, r.Method, r.URL.Path, APIVersion, store.ErrNotFound))
	})
	return mux
}

func (s *Server) handle(e *endpoint, peer bool, w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		writeError(w, fmt.Errorf("vfsd is stopping: %w", ErrUnavailable))
		return
	}
	defer func() { s.active.Add(-1); s.running.Done() }()
	sess := &session{srv: s, log: s.log, peer: peer}
	if peer {
		var done func()
		var ok bool
		if r, done, ok = s.admitPeer(w, r); !ok {
			return
		}
		defer done()
		w = &sentCounter{ResponseWriter: w, n: &s.peerSent}
		sess.member = servesPrivate(r)
	} else {
		cred, _ := r.Context().Value(peerKey{}).(peerCred)
		if err := s.allowed(cred, e, r); err != nil {
			s.log.Warn("control socket: request refused", "uid", cred.who.UID, "pid", cred.who.PID, "route", e.Method+" "+e.Path, "err", err)
			writeError(w, err)
			return
		}
		sess.who = cred.who
	}
	sess.local = s.base.as(sess.who)
	timeout := e.Timeout
	if t := r.URL.Query().Get("timeout"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			writeError(w, fmt.Errorf("timeout %q: a duration such as 30s: %w", t, store.ErrInvalid))
			return
		}
		timeout = min(timeout, d)
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	deadline, _ := ctx.Deadline()
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(deadline)
	rc.SetWriteDeadline(deadline)
	body := &idleBody{ReadCloser: r.Body, rc: rc, idle: s.BodyIdle, deadline: deadline}
	if e.ReqBody == "" { // JSON: small, and whole at once
		body.end = time.Now().Add(s.JSONBodyTime)
	}
	r.Body = body
	err := e.handle(ctx, sess, w, r)
	if err == nil {
		return
	}
	switch {
	case s.ctx.Err() != nil:
		err = fmt.Errorf("%v: vfsd is stopping: %w", err, ErrUnavailable)
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded):
		err = fmt.Errorf("%v: %w after %s", err, context.DeadlineExceeded, timeout)
	}
	if k := KindOf(err); k.Name == "error" || k.Name == "corrupt" {
		s.log.Warn("request failed", "route", e.Method+" "+e.Path, "uid", sess.who.UID, "err", err)
	}
	writeError(w, err)
}

// SetAccess makes a's rules decide who may do what (vfsd --access), in
// place of the socket's group.
func (s *Server) SetAccess(a *Access) { s.access = a }

// allowed decides who may act: root and the daemon's own user always;
// then, with access rules, the rules, per endpoint and per ref; without,
// members of the socket's group. The socket's mode (0660) already keeps
// others out; this holds even if someone loosens it.
func (s *Server) allowed(c peerCred, e *endpoint, r *http.Request) error {
	if c.err != nil {
		return fmt.Errorf("no peer credentials: %v: %w", c.err, ErrForbidden)
	}
	uid := c.who.UID
	if uid == 0 || uid == os.Getuid() {
		return nil
	}
	if s.access != nil {
		ref := ""
		if movesRef(e) {
			ref = r.PathValue("ref")
		}
		name := c.who.User
		if name == "" {
			name = strconv.Itoa(uid)
		}
		return s.access.check(uid, groupsOf(c.who.PID, c.gid), name, e, ref)
	}
	if s.group >= 0 && (c.gid == s.group || inGroup(c.who.PID, s.group)) {
		return nil
	}
	name := strconv.Itoa(s.group)
	if g, err := user.LookupGroupId(name); err == nil {
		name = g.Name
	}
	return fmt.Errorf("uid %d is not root and not in group %s: ask an administrator to add you (usermod -aG %s USER; then log in again): %w", uid, name, name, ErrForbidden)
}

// groupsOf is a process's groups: its gid (from SO_PEERCRED) and its
// supplementary groups (from /proc).
func groupsOf(pid, gid int) []int {
	out := []int{gid}
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Groups:"); ok {
			for _, g := range strings.Fields(rest) {
				if n, err := strconv.Atoi(g); err == nil {
					out = append(out, n)
				}
			}
		}
	}
	return out
}

// inGroup reads a process's supplementary groups, which SO_PEERCRED does
// not carry.
func inGroup(pid, gid int) bool {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Groups:"); ok {
			for _, g := range strings.Fields(rest) {
				if g == strconv.Itoa(gid) {
					return true
				}
			}
			return false
		}
	}
	return false
}

// credentials asks the kernel who is on the other end (SO_PEERCRED).
func credentials(c net.Conn) peerCred {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return peerCred{err: errors.New("not a Unix socket")}
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return peerCred{err: err}
	}
	var cred *unix.Ucred
	var cerr error
	err = raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		return peerCred{err: err}
	}
	who := snapshot.Who{UID: int(cred.Uid), PID: int(cred.Pid)}
	if u, err := user.LookupId(strconv.Itoa(who.UID)); err == nil {
		who.User = u.Username
	}
	return peerCred{who: who, gid: int(cred.Gid)}
}
