package integration

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// tcpProxy forwards connections to target until cut, which closes them and
// refuses new ones until heal: a network partition between one node and
// etcd.
type tcpProxy struct {
	addr  string
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &tcpProxy{addr: l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *tcpProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// waitStatus polls a node's readiness until it answers status with a body
// containing want, or fails after 30 s.
func waitStatus(t *testing.T, peer string, status int, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, body := ready(t, peer)
		if got == status && strings.Contains(body, want) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: ready answers %d %s, want %d %q", peer, got, body, status, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// etcd out of reach. One node cut off while the others reach etcd fences
// itself (they could switch without it). When etcd is gone for every
// member, for longer than the lease, nobody can switch, so every node
// stays ready serving the committed release; an activation then fails
// cleanly, and once etcd is back one goes through on every node.
func TestClusterEtcdOutage(t *testing.T) {
	cfg := etcdConfig(t)
	server := runEtcd(t, cfg)
	etcd := cfg.ListenClientUrls[0].String()
	proxy := newTCPProxy(t, cfg.ListenClientUrls[0].Host)
	var nodes []*daemon
	var peers []string
	for i, endpoint := range []string{etcd, etcd, "http://" + proxy.addr} {
		peers = append(peers, freeAddr(t))
		nodes = append(nodes, startDaemon(t, "--cluster", "web", "--node", "n"+string(rune('1'+i)), "--etcd", endpoint, "--peer-listen", peers[i], "--cluster-lease", "2s"))
	}
	origin := nodes[0]
	v1 := origin.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("one")}))
	origin.ctl(t, "-q", "activate", v1, "--cluster", "--wait", "60s")
	for _, p := range peers {
		waitStatus(t, p, 200, "")
	}
	// A partition: n3 alone loses etcd, and the others say they hear it.
	proxy.setCut(true)
	body := waitStatus(t, peers[2], 503, "fenced")
	t.Logf("n3 cut off: %s", body)
	if status, body := ready(t, peers[0]); status != 200 {
		t.Errorf("n1, which reaches etcd: %d %s", status, body)
	}
	// etcd gone for everyone, longer than the lease: nobody can flip.
	server.Close()
	// cluster status answers all the same, naming etcd, with the last
	// state the node read.
	start := time.Now()
	st, stderr, err := origin.try("cluster", "status")
	if err != nil || !strings.Contains(st, "etcd unreachable since") || !strings.Contains(st, "member n1") {
		t.Errorf("cluster status with etcd stopped: %v %s %s", err, st, stderr)
	}
	t.Logf("cluster status with etcd stopped answered in %s:\n%s", time.Since(start).Round(time.Millisecond), st)
	time.Sleep(3 * time.Second)
	for _, p := range peers {
		waitStatus(t, p, 200, "")
	}
	for i := 0; i < 20; i++ { // and it stays so
		for j, p := range peers {
			if status, body := ready(t, p); status != 200 {
				t.Fatalf("n%d with etcd gone for all: %d %s", j+1, status, body)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	v2 := origin.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("two")}))
	start = time.Now()
	if _, stderr, err := origin.try("activate", v2, "--cluster", "--wait", "3s"); err == nil || !strings.Contains(stderr, "etcd") {
		t.Errorf("activation with etcd down: %v %s", err, stderr)
	} else if took := time.Since(start); took > 15*time.Second {
		t.Errorf("activation with etcd down took %s to fail", took)
	}
	// etcd back, the partition healed: the release goes out everywhere.
	runEtcd(t, cfg)
	proxy.setCut(false)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st struct {
			Members map[string]string `json:"members"`
		}
		json.Unmarshal([]byte(origin.ctl(t, "--json", "cluster", "status")), &st)
		if len(st.Members) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("members after etcd came back: %v", st.Members)
		}
		time.Sleep(100 * time.Millisecond)
	}
	origin.ctl(t, "-q", "activate", v2, "--cluster", "--wait", "60s")
	for i, n := range nodes {
		if b, err := os.ReadFile(filepath.Join(n.mnt, "current", "index.html")); err != nil || string(b) != "two" {
			t.Errorf("n%d after etcd came back serves %q %v", i+1, b, err)
		}
		waitStatus(t, peers[i], 200, "")
	}
}
