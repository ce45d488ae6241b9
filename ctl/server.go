package ctl

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/rpc"
	"os/user"
	"strconv"
	"sync"
	"time"

	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
	"golang.org/x/sys/unix"
)

// Server answers vfsctl on a Unix socket. Each connection gets its own
// session, with the peer's uid and pid from the kernel.
type Server struct {
	base *Local
	log  *slog.Logger

	mu     sync.Mutex
	conns  map[*net.UnixConn]struct{}
	closed bool
	wg     sync.WaitGroup // connections being served
}

// NewServer returns a server over base, which provides the store and the
// file system hooks; its Who is replaced per peer.
func NewServer(base *Local, log *slog.Logger) *Server {
	return &Server{base: base, log: log, conns: map[*net.UnixConn]struct{}{}}
}

// Serve answers clients on l until l is closed.
func Serve(l *net.UnixListener, base *Local, log *slog.Logger) error {
	return NewServer(base, log).Serve(l)
}

// Serve accepts connections on l until l is closed or Shutdown is called.
func (s *Server) Serve(l *net.UnixListener) error {
	for {
		conn, err := l.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("control socket: %w", err)
		}
		if !s.track(conn) {
			conn.Close()
			continue
		}
		go func() {
			defer s.untrack(conn)
			serveConn(conn, s.base, s.log)
		}()
	}
}

func (s *Server) track(c *net.UnixConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *net.UnixConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// ErrStillRunning: Shutdown's wait ended with requests still running.
var ErrStillRunning = errors.New("requests still running")

// Shutdown refuses new connections, hangs up on every client (a request
// under way finishes and its answer is dropped; an unfinished import is
// aborted), and waits up to wait for the requests under way to end. The
// listener is the caller's to close first. After a nil return no request
// touches the store or the file system again.
func (s *Server) Shutdown(wait time.Duration) error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("control socket: %w after %s", ErrStillRunning, wait)
	}
}

func serveConn(conn *net.UnixConn, base *Local, log *slog.Logger) {
	who, err := peer(conn)
	if err != nil {
		log.Warn("control socket: no peer credentials, closing", "err", err)
		conn.Close()
		return
	}
	local := *base
	local.Who = who
	s := &Session{local: &local, log: log}
	srv := rpc.NewServer()
	if err := srv.RegisterName("VFS", s); err != nil {
		log.Error("control socket: register", "err", err)
		conn.Close()
		return
	}
	srv.ServeConn(conn) // returns when the client hangs up
	s.hangUp()
}

// peer asks the kernel who is on the other end (SO_PEERCRED).
func peer(conn *net.UnixConn) (snapshot.Who, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return snapshot.Who{}, err
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
		return snapshot.Who{}, err
	}
	who := snapshot.Who{UID: int(cred.Uid), PID: int(cred.Pid)}
	if u, err := user.LookupId(strconv.Itoa(who.UID)); err == nil {
		who.User = u.Username
	}
	return who, nil
}

// Session is one client connection's view of the daemon: the RPC service
// "VFS". Its exported methods follow net/rpc's rules.
type Session struct {
	local *Local
	log   *slog.Logger

	mu      sync.Mutex
	batch   *store.Writer  // the import under way, if any
	lease   *time.Timer    // aborts batch when the client goes silent
	expired bool           // the last import lost its lease
	backup  *io.PipeReader // the backup being read, if any
}

// hangUp ends what a client left unfinished when it hung up.
func (s *Session) hangUp() {
	s.mu.Lock()
	if s.backup != nil {
		s.backup.Close()
	}
	s.mu.Unlock()
	s.abortImport()
}

// statPath keys a client's stat cache entries by its uid: one user's
// claims about a path never answer another's.
func (s *Session) statPath(p string) string {
	return "uid " + strconv.Itoa(s.local.Who.UID) + ":" + p
}

func (s *Session) Tree(a RefArg, r *store.Tree) error {
	t, err := s.local.Tree(a.Ref)
	if err == nil {
		*r = *t
	}
	return encodeErr(err)
}

func (s *Session) File(a RefArg, r *store.FileRecord) error {
	f, err := s.local.File(a.Ref)
	if err == nil {
		*r = *f
	}
	return encodeErr(err)
}

func (s *Session) ReadAt(a ReadArgs, r *[]byte) error {
	if a.Len < 0 || a.Len > maxRead {
		return encodeErr(fmt.Errorf("read of %d bytes: at most %d", a.Len, maxRead))
	}
	f, err := s.local.File(a.Ref)
	if err != nil {
		return encodeErr(err)
	}
	buf := make([]byte, a.Len)
	n, err := s.local.Store.ReadAt(f, buf, a.Off)
	*r = buf[:n]
	return encodeErr(err)
}

func (s *Session) Snapshot(a RefArg, r *store.SnapshotInfo) error {
	info, err := s.local.Snapshot(a.Ref)
	*r = info
	return encodeErr(err)
}

func (s *Session) Snapshots(_ bool, r *[]store.SnapshotInfo) error {
	all, err := s.local.Snapshots()
	*r = all
	return encodeErr(err)
}

func (s *Session) Label(a NameArg, r *store.Ref) error {
	id, err := s.local.Label(a.Name)
	*r = id
	return encodeErr(err)
}

func (s *Session) NamedRefs(_ bool, r *map[string]store.Ref) error {
	m, err := s.local.NamedRefs()
	*r = m
	return encodeErr(err)
}

func (s *Session) Log(_ bool, r *[]store.LogEntry) error {
	l, err := s.local.Log()
	*r = l
	return encodeErr(err)
}

func (s *Session) Activate(a ActivateArgs, r *Activation) error {
	e, err := s.local.Activate(a.Ref, a.ID, a.Reason, a.Verify)
	*r = e
	if err == nil {
		s.log.Info("activated", "ref", e.Ref, "from", shortOrNone(e.From), "to", e.To.Short(), "uid", e.UID, "pid", e.PID, "reason", e.Reason)
	}
	return encodeErr(err)
}

func (s *Session) Rollback(a ActivateArgs, r *Activation) error {
	e, err := s.local.Rollback(a.Ref, a.Reason)
	*r = e
	if err == nil {
		s.log.Info("rolled back", "ref", e.Ref, "from", shortOrNone(e.From), "to", e.To.Short(), "uid", e.UID, "pid", e.PID)
	}
	return encodeErr(err)
}

func (s *Session) Remove(a RefArg, _ *bool) error {
	err := s.local.Remove(a.Ref)
	if err == nil {
		s.log.Info("removed snapshot", "id", a.Ref.Short(), "uid", s.local.Who.UID)
	}
	return encodeErr(err)
}

func (s *Session) Verify(a VerifyArgs, r *snapshot.Report) error {
	rep, err := s.local.Verify(a.IDs)
	if err == nil {
		*r = *rep
	}
	return encodeErr(err)
}

func (s *Session) Status(_ bool, r *Status) error {
	st, err := s.local.Status()
	*r = st
	return encodeErr(err)
}

func shortOrNone(r store.Ref) string {
	if r.IsZero() {
		return "none"
	}
	return r.Short()
}
