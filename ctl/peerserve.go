package ctl

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vfs-project/vfs/store"
)

// The peer listener faces a network, not a socket's owner: its clients are
// counted per host (the address they connect from) and in all, each
// request's body is small and must arrive at once, and a content that no
// snapshot holds readable by others (a 0600 file) goes only to a member
// that proved itself with a certificate (mutual TLS).

// PeerLimits bound what the peer listener gives its clients. Zero fields
// take the defaults below. Set Server.Peers before ServePeers.
type PeerLimits struct {
	Conns          int           // open connections in all
	ConnsPerHost   int           // open connections from one host
	InFlight       int           // requests being answered, in all
	InFlightOfHost int           // requests being answered for one host
	IdleConn       time.Duration // a kept-alive connection idle this long is closed
	// TLS, if set, is mutual TLS (PeerTLS's server side): a client
	// without a certificate the cluster's CA signed is refused at the
	// handshake, and private contents are served.
	TLS *tls.Config
	// Rejected, if set, hears of each refusal, by reason: "connections",
	// "in_flight", "body", "private", "tls" (vfs_peer_rejected_total).
	Rejected func(reason string)
}

// Defaults of PeerLimits. A member pulls over a few connections (the
// transport keeps 8 per peer) with one request at a time per ref.
const (
	DefaultPeerConns          = 1024
	DefaultPeerConnsPerHost   = 64
	DefaultPeerInFlight       = 256
	DefaultPeerInFlightOfHost = 16
	DefaultPeerIdleConn       = 30 * time.Second
	// peerMaxBody bounds a peer request's body: a fetch of maxFetch
	// objects is about 400 KB of JSON.
	peerMaxBody = 1 << 20
	// peerBodyTime is how long a peer request's body may take to arrive.
	peerBodyTime = 10 * time.Second
)

func (l PeerLimits) withDefaults() PeerLimits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.Conns, DefaultPeerConns)
	def(&l.ConnsPerHost, DefaultPeerConnsPerHost)
	def(&l.InFlight, DefaultPeerInFlight)
	def(&l.InFlightOfHost, DefaultPeerInFlightOfHost)
	if l.IdleConn <= 0 {
		l.IdleConn = DefaultPeerIdleConn
	}
	return l
}

// hostCounts counts what each host holds, and the total, under limits.
type hostCounts struct {
	mu            sync.Mutex
	hosts         map[string]int
	total         int
	most, perHost int
}

func newHostCounts(most, perHost int) *hostCounts {
	return &hostCounts{hosts: map[string]int{}, most: most, perHost: perHost}
}

func (h *hostCounts) take(host string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.total >= h.most || h.hosts[host] >= h.perHost {
		return false
	}
	h.total++
	h.hosts[host]++
	return true
}

func (h *hostCounts) give(host string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.total--
	if h.hosts[host]--; h.hosts[host] <= 0 {
		delete(h.hosts, host) // the map holds only hosts that hold something
	}
}

// peerGate is the peer listener's limits in force.
type peerGate struct {
	lim      PeerLimits
	conns    *hostCounts
	inFlight *hostCounts
}

func (g *peerGate) reject(reason string) {
	if g.lim.Rejected != nil {
		g.lim.Rejected(reason)
	}
}

// hostOf is the host of a host:port.
func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// limitListener closes, as soon as they are accepted, the connections
// over the limits: a full listener still accepts, so that the kernel's
// queue does not fill and the hosts within their share get in.
type limitListener struct {
	net.Listener
	g *peerGate
}

func (l limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := hostOf(c.RemoteAddr().String())
		if !l.g.conns.take(host) {
			c.Close()
			l.g.reject("connections")
			continue
		}
		return &countedConn{Conn: c, release: sync.OnceFunc(func() { l.g.conns.give(host) })}, nil
	}
}

type countedConn struct {
	net.Conn
	release func()
}

func (c *countedConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// tlsErrors counts failed handshakes from the server's error log, the
// one place net/http reports them, and passes every line on.
type tlsErrors struct {
	w io.Writer
	g *peerGate
}

func (t tlsErrors) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("TLS handshake error")) {
		t.g.reject("tls")
	}
	return t.w.Write(p)
}

// admitPeer takes a request of the peer listener in, or answers it and
// returns false: within the host's share of requests in flight, its body
// (if any) read whole within peerBodyTime and peerMaxBody. The body is
// then read from memory, and takes no decode slot (ops.go): the limits
// here already bound what the peer listener's bodies hold.
func (s *Server) admitPeer(w http.ResponseWriter, r *http.Request) (*http.Request, func(), bool) {
	g := s.peers
	host := hostOf(r.RemoteAddr)
	if !g.inFlight.take(host) {
		g.reject("in_flight")
		writeError(w, fmt.Errorf("%d requests in flight from %s, or %d in all: %w", g.lim.InFlightOfHost, host, g.lim.InFlight, ErrUnavailable))
		return r, nil, false
	}
	done := func() { g.inFlight.give(host) }
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		rc := http.NewResponseController(w)
		rc.SetReadDeadline(time.Now().Add(peerBodyTime))
		b, err := io.ReadAll(io.LimitReader(r.Body, peerMaxBody+1))
		rc.SetReadDeadline(time.Time{})
		if err != nil || len(b) > peerMaxBody {
			done()
			g.reject("body")
			if err == nil {
				err = fmt.Errorf("more than %d bytes", peerMaxBody)
			}
			writeError(w, fmt.Errorf("request body: %v (a peer's must arrive whole within %s): %w", err, peerBodyTime, store.ErrInvalid))
			return r, nil, false
		}
		r = r.WithContext(context.WithValue(r.Context(), slotFreeKey{}, true))
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	return r, done, true
}

// slotFreeKey marks a request whose body is already in memory.
type slotFreeKey struct{}

// servesPrivate reports whether the peer listener may hand over private
// contents: only to a member that showed a certificate.
func servesPrivate(r *http.Request) bool {
	return r.TLS != nil && len(r.TLS.VerifiedChains) > 0
}

// isPrivate reports whether the object id must be refused to this
// session's client: a private content's record or chunk, asked on the
// peer listener by a client without a certificate (docs/security.md).
func (s *session) isPrivate(id ObjectID) bool {
	if !s.peer || s.member || id.Kind == ObjectTree {
		return false
	}
	if s.local.st.Private(id.Ref) {
		s.srv.peers.reject("private")
		return true
	}
	return false
}

// PeerBytesSent is how many response bytes the peer listener has written:
// what this node sent other members (vfs_peer_sent_bytes_total).
func (s *Server) PeerBytesSent() int64 { return s.peerSent.Load() }

// sentCounter counts the bytes written to a response.
type sentCounter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *sentCounter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (c *sentCounter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
