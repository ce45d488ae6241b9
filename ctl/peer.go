package ctl

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vfs-project/vfs/store"
)

// A client of another node's peer listener trusts the peer with nothing
// but bytes: a peer that stalls, trickles or sends without end costs at
// most the bytes its answer may hold and the time those bytes justify.
//
// Progress: a peer must send at least PeerProgress bytes for each Idle
// spent waiting on it (time this node spends on what arrived does not
// count), and answer a request's headers within Idle. A peer that fails
// this is ErrStalled. Bound: an answer may hold at most what was asked
// for (a record, PeerRecordMax; a fetch, its objects at their largest);
// more is ErrCorrupt. So one answer holds a node for at most
// (bytes/PeerProgress + 1) × Idle, and a hostile peer's trickle ends at
// the first Idle.

// PeerOptions say how this node reaches the peer listeners of others.
type PeerOptions struct {
	// TLS, if set, is the client side of mutual TLS (vfsd --peer-tls-*):
	// this node's certificate and the cluster's CA.
	TLS *tls.Config
	// Idle is the progress deadline (DefaultPeerIdle when zero).
	Idle time.Duration
}

// Progress deadline defaults.
const (
	DefaultPeerIdle = 10 * time.Second
	// PeerProgress is the least a peer must send per Idle waited.
	PeerProgress = 64 << 10
	// PeerRecordMax bounds a JSON answer from a peer (a snapshot's
	// record, the version): far above any true one.
	PeerRecordMax = 4 << 20
)

// ErrStalled: a peer stopped sending, or sent too slowly, while this node
// waited on it.
var ErrStalled = errors.New("the peer stalled")

// DialPeer returns a client of another node's peer listener (host:port),
// for the object endpoints, with o's deadlines and TLS.
func DialPeer(ctx context.Context, addr string, o PeerOptions) *Client {
	idle := o.Idle
	if idle <= 0 {
		idle = DefaultPeerIdle
	}
	d := &net.Dialer{Timeout: idle, KeepAlive: 15 * time.Second}
	tr := &http.Transport{
		DialContext:           d.DialContext,
		TLSClientConfig:       o.TLS,
		TLSHandshakeTimeout:   idle,
		ResponseHeaderTimeout: idle,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       time.Minute,
		DisableCompression:    true,
	}
	scheme := "http://"
	if o.TLS != nil {
		scheme = "https://"
	}
	n := &atomic.Int64{}
	return &Client{hc: &http.Client{Transport: peerTransport{tr, n, idle}}, base: scheme + addr, ctx: ctx, path: addr, received: n}
}

// BytesReceived returns how many bytes of response bodies a peer client
// has read (0 for a socket client).
func (c *Client) BytesReceived() int64 {
	if c.received == nil {
		return 0
	}
	return c.received.Load()
}

// answerLimitKey carries, in a request's context, the most bytes its
// answer may hold (PeerRecordMax when absent).
type answerLimitKey struct{}

func withAnswerLimit(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, answerLimitKey{}, n)
}

// peerTransport counts the body bytes read from each response and holds
// each to the progress deadline and its limit.
type peerTransport struct {
	rt   http.RoundTripper
	n    *atomic.Int64
	idle time.Duration
}

func (t peerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	limit, ok := r.Context().Value(answerLimitKey{}).(int64)
	if !ok {
		limit = PeerRecordMax
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	resp, err := t.rt.RoundTrip(r.WithContext(ctx))
	if err != nil {
		cancel(nil)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && r.Context().Err() == nil {
			return nil, fmt.Errorf("%s: %v: %w", r.URL.Host, err, ErrStalled)
		}
		return nil, err
	}
	resp.Body = &peerBody{ReadCloser: resp.Body, n: t.n, ctx: ctx, cancel: cancel, idle: t.idle, left: limit, limit: limit, host: r.URL.Host}
	return resp, nil
}

// peerBody is an answer's body, read under the rules above.
type peerBody struct {
	io.ReadCloser
	n      *atomic.Int64
	ctx    context.Context
	cancel context.CancelCauseFunc
	idle   time.Duration
	host   string

	mu     sync.Mutex
	waited time.Duration // waiting in this window
	got    int64         // bytes in this window
	left   int64         // bytes the answer may still hold
	limit  int64
}

var errStalled = errors.New("stalled")

func (b *peerBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.left < 0 {
		b.mu.Unlock()
		return 0, fmt.Errorf("%s sent more than the %d bytes asked for: %w", b.host, b.limit, store.ErrCorrupt)
	}
	// At the limit, one byte more says whether the answer ends there.
	if int64(len(p)) > b.left {
		p = p[:max(b.left, 1)]
	}
	// The time this read may wait: the rest of the window, and a window
	// more if this one already has its bytes.
	wait := b.idle - b.waited
	if b.got >= PeerProgress {
		wait += b.idle
	}
	b.mu.Unlock()
	timer := time.AfterFunc(max(wait, 0), func() { b.cancel(errStalled) })
	start := time.Now()
	n, err := b.ReadCloser.Read(p)
	stopped := timer.Stop()
	b.n.Add(int64(n))
	b.mu.Lock()
	defer b.mu.Unlock()
	b.left -= int64(n)
	b.waited += time.Since(start)
	b.got += int64(n)
	for b.waited >= b.idle {
		if b.got < PeerProgress && err == nil {
			stopped = false
			b.cancel(errStalled)
			break
		}
		b.waited -= b.idle
		b.got = 0
	}
	if b.left < 0 {
		return 0, fmt.Errorf("%s sent more than the %d bytes asked for: %w", b.host, b.limit, store.ErrCorrupt)
	}
	if !stopped && context.Cause(b.ctx) == errStalled {
		return n, fmt.Errorf("%s sent under %d bytes in %s: %w", b.host, PeerProgress, b.idle, ErrStalled)
	}
	return n, err
}

func (b *peerBody) Close() error {
	b.cancel(nil)
	return b.ReadCloser.Close()
}

// PeerTLS reads the files of mutual TLS between members (vfsd
// --peer-tls-cert, --peer-tls-key, --peer-tls-ca): this node's certificate
// and key, and the cluster's CA, which signed every member's certificate.
// server is the peer listener's side (a client without a certificate the
// CA signed is refused at the handshake); client is the side of this node's
// pulls, which checks that a peer's certificate names the host it dialled.
func PeerTLS(certFile, keyFile, caFile string) (server, client *tls.Config, err error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("peer TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, nil, fmt.Errorf("peer TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("peer TLS CA %s: no PEM certificate in it", caFile)
	}
	server = &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}
	client = &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		MinVersion:   tls.VersionTLS12,
	}
	return server, client, nil
}
