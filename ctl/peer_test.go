package ctl_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/ctl/ctltest"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// hostilePeer serves h on a loopback port and returns its address.
func hostilePeer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	return ctltest.ServePeer(t, h)
}

// A peer that stalls, trickles or sends without end costs a client at
// most its progress deadline and the bytes it asked for; each ends with
// the error that says which.
func TestHostilePeers(t *testing.T) {
	t.Parallel()
	const idle = 500 * time.Millisecond
	id := store.Sum([]byte("some snapshot"))
	ids := []store.Ref{store.Sum([]byte("a chunk"))}

	// One that accepts connections and never answers.
	tarpit, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tarpit.Close()
	go func() {
		for {
			c, err := tarpit.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	trickle := hostilePeer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"`))
		for r.Context().Err() == nil {
			w.Write([]byte("a"))
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
		}
	})
	endless := hostilePeer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"`))
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	// A fetch answer that claims a chunk larger than any chunk.
	huge := hostilePeer(t, func(w http.ResponseWriter, r *http.Request) {
		b := append([]byte("c"), ids[0][:]...)
		b = binary.AppendUvarint(b, 5<<30)
		w.Write(b)
		w.Write(make([]byte, 1<<20))
	})
	for _, c := range []struct {
		name, addr string
		fetch      bool
		want       error
		most       int64 // bytes the client may read
	}{
		{"tarpit", tarpit.Addr().String(), false, ctl.ErrStalled, 0},
		{"trickle", trickle, false, ctl.ErrStalled, 1 << 10},
		{"endless record", endless, false, store.ErrCorrupt, ctl.PeerRecordMax + 1},
		{"5 GiB chunk", huge, true, store.ErrCorrupt, 1 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			cl := ctl.DialPeer(context.Background(), c.addr, ctl.PeerOptions{Idle: idle})
			defer cl.Close()
			if c.fetch {
				err = cl.FetchChunks(context.Background(), ids, func(store.Ref, []byte) error { return nil })
			} else {
				_, err = cl.Snapshot(id)
			}
			took := time.Since(start)
			if !errors.Is(err, c.want) {
				t.Fatalf("%v, want %v", err, c.want)
			}
			if got := cl.BytesReceived(); got > c.most {
				t.Errorf("read %d bytes, at most %d allowed", got, c.most)
			}
			t.Logf("%v after %s, %d bytes read", err, took.Round(time.Millisecond), cl.BytesReceived())
			if c.want == ctl.ErrStalled && !strings.Contains(err.Error(), "stalled") {
				t.Errorf("the error does not say the peer stalled: %v", err)
			}
		})
	}
}

// rejections counts the peer listener's refusals by reason.
type rejections struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *rejections) add(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[reason]++
}

func (r *rejections) get(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[reason]
}

func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// servePeers serves srv's peer listener on a loopback port.
func servePeers(t *testing.T, srv *ctl.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServePeers(l)
	return l.Addr().String()
}

// 2,000 connections from one host that trickle their bodies hold no more
// than that host's share of the peer listener; another host (the load
// balancer asking /v1/ready) is answered meanwhile; oversized bodies are
// refused after a megabyte, not decoded.
func TestPeerListenerUnderLoad(t *testing.T) {
	var rej rejections
	srv, _, _ := daemonWith(t, nil, func(s *ctl.Server) { s.Peers = ctl.PeerLimits{Rejected: rej.add} })
	addr := servePeers(t, srv)
	before := openFDs(t)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	const attackers = 2000
	for range attackers {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", len(conns), err)
		}
		conns = append(conns, c)
		c.Write([]byte("POST /v1/objects/fetch HTTP/1.1\r\nHost: peer\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"))
	}
	deadline := time.Now().Add(20 * time.Second)
	for rej.get("connections") < attackers-ctl.DefaultPeerConnsPerHost && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	held := openFDs(t) - before - attackers
	t.Logf("%d connections: %d refused at once, %d requests refused as over the host's share in flight; the listener holds %d descriptors",
		attackers, rej.get("connections"), rej.get("in_flight"), held)
	if got := rej.get("connections"); got < attackers-ctl.DefaultPeerConnsPerHost {
		t.Errorf("%d connections refused, want at least %d", got, attackers-ctl.DefaultPeerConnsPerHost)
	}
	if held > ctl.DefaultPeerConnsPerHost+16 {
		t.Errorf("the peer listener holds %d descriptors for one host, its share is %d", held, ctl.DefaultPeerConnsPerHost)
	}
	resp, err := http.Get("http://" + addr + "/v1/version")
	if err != nil {
		t.Fatalf("another host is not answered: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("another host: %s", resp.Status)
	}

	// Twelve 60 MiB bodies at once: each refused after its first MiB.
	body := bytes.Repeat([]byte(" "), 60<<20)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap := ms.HeapInuse
	var wg sync.WaitGroup
	var worst atomic.Uint64
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post("http://"+addr+"/v1/objects/fetch", "application/json", bytes.NewReader(body))
			if err != nil {
				return // the server may hang up while the body is still being sent
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "more than") {
				t.Errorf("a 60 MiB body: %s %s", resp.Status, b)
			}
		}()
	}
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > worst.Load() {
					worst.Store(ms.HeapInuse)
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	grew := int64(worst.Load()) - int64(heap)
	t.Logf("twelve 60 MiB bodies: the heap grew by %d MiB at most; %d refused", grew>>20, rej.get("body"))
	if grew > 64<<20 {
		t.Errorf("the heap grew by %d MiB for twelve oversized bodies", grew>>20)
	}
}

// A content that no snapshot holds readable by others (a 0600 file) is
// not served on the peer listener to a client without a certificate;
// with mutual TLS, a client without one is refused at the handshake and a
// member gets everything.
func TestPeerListenerTLSAndPrivate(t *testing.T) {
	dir := t.TempDir()
	ctltest.PeerCerts(t, dir, "member")
	serverTLS, memberTLS, err := ctl.PeerTLS(filepath.Join(dir, "member.pem"), filepath.Join(dir, "member-key.pem"), filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for _, withTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", withTLS), func(t *testing.T) {
			var rej rejections
			srv, sock, st := daemonWith(t, nil, func(s *ctl.Server) {
				s.Peers = ctl.PeerLimits{Rejected: rej.add}
				if withTLS {
					s.Peers.TLS = serverTLS
				}
			})
			site := t.TempDir()
			os.WriteFile(filepath.Join(site, "index.html"), []byte("<h1>public</h1>"), 0o644)
			os.WriteFile(filepath.Join(site, "secret.env"), []byte("TOKEN=hunter2"), 0o600)
			res, err := snapshot.ImportDir(context.Background(), dial(t, sock), site, snapshot.ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			root, err := st.Tree(res.Snapshot.ID)
			if err != nil {
				t.Fatal(err)
			}
			public, _ := root.Lookup("index.html")
			secret, _ := root.Lookup("secret.env")
			addr := servePeers(t, srv)
			if !withTLS {
				peer := ctl.DialPeer(context.Background(), addr, ctl.PeerOptions{})
				defer peer.Close()
				if err := peer.FetchFiles(context.Background(), []store.Ref{public.Ref}, func(*store.FileRecord) error { return nil }); err != nil {
					t.Fatalf("a public file: %v", err)
				}
				for _, kind := range []func(context.Context, []store.Ref) error{
					func(ctx context.Context, r []store.Ref) error {
						return peer.FetchFiles(ctx, r, func(*store.FileRecord) error { return nil })
					},
					func(ctx context.Context, r []store.Ref) error {
						return peer.FetchChunks(ctx, r, func(store.Ref, []byte) error { return nil })
					},
				} {
					if err := kind(context.Background(), []store.Ref{secret.Ref}); !errors.Is(err, ctl.ErrForbidden) {
						t.Errorf("a 0600 file's record or chunk: %v, want forbidden", err)
					}
				}
				resp, err := http.Get("http://" + addr + "/v1/objects/chunk/" + secret.Ref.String())
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("GET a 0600 file's chunk: %s", resp.Status)
				}
				if rej.get("private") < 3 {
					t.Errorf("%d refusals of a private content counted, want 3", rej.get("private"))
				}
				return
			}
			// No certificate: refused at the handshake.
			anon := ctl.DialPeer(context.Background(), addr, ctl.PeerOptions{TLS: &tls.Config{RootCAs: memberTLS.RootCAs}})
			defer anon.Close()
			if _, err := anon.Snapshot(res.Snapshot.ID); err == nil {
				t.Fatal("a client without a certificate was answered")
			}
			// Plain HTTP: refused too.
			if resp, err := http.Get("http://" + addr + "/v1/version"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.Fatal("plain HTTP answered on a TLS peer listener")
				}
			}
			member := ctl.DialPeer(context.Background(), addr, ctl.PeerOptions{TLS: memberTLS})
			defer member.Close()
			var got []byte
			if err := member.FetchChunks(context.Background(), []store.Ref{secret.Ref}, func(_ store.Ref, b []byte) error { got = b; return nil }); err != nil {
				t.Fatalf("a member: %v", err)
			}
			if string(got) != "TOKEN=hunter2" {
				t.Errorf("a member got %q", got)
			}
			if rej.get("tls") == 0 {
				t.Error("the refused handshake is not counted")
			}
		})
	}
}
