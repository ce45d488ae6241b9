package cluster_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/vfs-project/vfs/cluster/clustertest"
	"github.com/vfs-project/vfs/ctl/ctltest"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// evilPeer is a peer listener of the test's: it answers a snapshot's
// record and the fetch endpoint from the objects it was given, or stalls
// and trickles as told, and counts the requests that reach it.
type evilPeer struct {
	addr     string
	requests atomic.Int64
	trickle  bool // send the fetch answer a byte at a time, slowly
	trees    map[store.Ref][]byte
	files    map[store.Ref]*store.FileRecord
	chunks   map[store.Ref][]byte
}

func newEvilPeer(t *testing.T, trickle bool) *evilPeer {
	t.Helper()
	p := &evilPeer{trickle: trickle, trees: map[store.Ref][]byte{}, files: map[store.Ref]*store.FileRecord{}, chunks: map[store.Ref][]byte{}}
	p.addr = ctltest.ServePeer(t, p)
	return p
}

// tree stores t and returns its ref.
func (p *evilPeer) tree(t *testing.T, entries ...store.Entry) store.Ref {
	t.Helper()
	b, err := store.EncodeTree(&store.Tree{Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	ref := store.Sum(b)
	p.trees[ref] = b
	return ref
}

func (p *evilPeer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if id, ok := strings.CutPrefix(r.URL.Path, "/v1/snapshots/"); ok {
		ref, _ := store.ParseRef(id)
		json.NewEncoder(w).Encode(store.SnapshotInfo{ID: ref, Created: time.Now()})
		return
	}
	var req struct {
		Objects []struct {
			Kind string    `json:"kind"`
			Ref  store.Ref `json:"ref"`
		} `json:"objects"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	var out bytes.Buffer
	for _, o := range req.Objects {
		var b []byte
		switch o.Kind {
		case "tree":
			b = p.trees[o.Ref]
		case "file":
			b, _ = json.Marshal(p.files[o.Ref])
		case "chunk":
			b = p.chunks[o.Ref]
		case "variants":
			b = []byte("[]") // none: these tests lie elsewhere
		}
		out.WriteString(o.Kind[:1])
		out.Write(o.Ref[:])
		out.Write(binary.AppendUvarint(nil, uint64(len(b))))
		out.Write(b)
	}
	if !p.trickle {
		w.Write(out.Bytes())
		return
	}
	for _, c := range out.Bytes() {
		if _, err := w.Write([]byte{c}); err != nil || r.Context().Err() != nil {
			return
		}
		w.(http.Flusher).Flush()
		time.Sleep(50 * time.Millisecond)
	}
}

// A source that trickles is dropped within the progress deadline and the
// next one gives the snapshot; a source that failed is then left alone
// for its backoff, not asked again at the next try.
func TestSlowSourceIsDroppedAndBackedOff(t *testing.T) {
	t.Parallel()
	f := New(t, 2, Options{PeerIdle: 500 * time.Millisecond})
	n1, n2 := f.Node("n1"), f.Node("n2")
	v1 := n1.Import(t, site("v1"))
	slow := newEvilPeer(t, true)
	// The slow source holds v1's objects but sends them a byte at a time.
	for _, src := range []*evilPeer{slow} {
		copyObjects(t, n1, src, v1)
	}
	start := time.Now()
	if err := n2.Node.PullFrom(context.Background(), v1, []string{slow.addr, n1.Peer}); err != nil {
		t.Fatal(err)
	}
	t.Logf("pulled from the second source %s after the first stalled", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(n2.Log.String(), "a source stalled") {
		t.Errorf("n2 does not say the source stalled:\n%s", n2.Log.String())
	}
	v2 := n1.Import(t, site("v2"))
	copyObjects(t, n1, slow, v2)
	asked := slow.requests.Load()
	err := n2.Node.PullFrom(context.Background(), v2, []string{slow.addr})
	if err == nil || !strings.Contains(err.Error(), "every source failed lately") {
		t.Fatalf("a pull from a source backed off: %v", err)
	}
	if slow.requests.Load() != asked {
		t.Errorf("a source in its backoff was asked again")
	}
}

// copyObjects gives p the objects of snapshot id on n.
func copyObjects(t *testing.T, n *Node, p *evilPeer, id store.Ref) {
	t.Helper()
	st := n.Local.Store()
	err := store.Walk(st, id, func(_ string, e store.Entry) error {
		switch e.Kind {
		case store.KindDir:
			tr, err := st.Tree(e.Ref)
			if err != nil {
				return err
			}
			p.tree(t, tr.Entries...)
		case store.KindFile:
			rec, err := st.File(e.Ref)
			if err != nil {
				return err
			}
			p.files[e.Ref] = rec
			for _, c := range rec.Chunks {
				if p.chunks[c], err = st.Chunk(c); err != nil {
					return err
				}
			}
		}
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	root, err := st.Tree(id)
	if err != nil {
		t.Fatal(err)
	}
	p.tree(t, root.Entries...)
}

// What a hostile source sends costs what its bytes justify: a DAG of 41
// trees that names 2^40 paths, and a file that claims a gigabyte of one
// repeated chunk, are each refused, the chunk fetched and hashed once;
// nothing is recorded, and the member still serves what it served.
func TestHostileSourceIsRefused(t *testing.T) {
	t.Parallel()
	f := New(t, 1, Options{PeerIdle: 500 * time.Millisecond})
	n1 := f.Node("n1")
	v1 := n1.Import(t, site("v1"))
	release(t, n1, "current", v1)

	evil := newEvilPeer(t, false)
	block := bytes.Repeat([]byte("x"), store.ChunkSize)
	chunk := store.Sum(block)
	evil.chunks[chunk] = block
	// A gigabyte of the same block: the record is the right shape, and
	// its content hash is made up.
	claim := &store.FileRecord{Ref: store.Sum([]byte("made up")), Size: 1 << 30, ChunkSize: store.ChunkSize}
	for range (1 << 30) / store.ChunkSize {
		claim.Chunks = append(claim.Chunks, chunk)
	}
	evil.files[claim.Ref] = claim
	big := evil.tree(t, store.Entry{Name: "big.js", Kind: store.KindFile, Mode: 0o644, Ref: claim.Ref, Size: claim.Size})

	small := &store.FileRecord{Ref: store.Sum([]byte("x")), Size: 1, ChunkSize: store.ChunkSize, Chunks: []store.Ref{store.Sum([]byte("x"))}}
	evil.files[small.Ref], evil.chunks[small.Ref] = small, []byte("x")
	dag := evil.tree(t, store.Entry{Name: "x", Kind: store.KindFile, Mode: 0o644, Ref: small.Ref, Size: 1})
	for range 40 {
		dag = evil.tree(t, store.Entry{Name: "a", Kind: store.KindDir, Mode: 0o755, Ref: dag}, store.Entry{Name: "b", Kind: store.KindDir, Mode: 0o755, Ref: dag})
	}

	for _, c := range []struct {
		name string
		id   store.Ref
	}{{"a gigabyte of one chunk", big}, {"2^40 paths", dag}} {
		// A source of its own each: the first, refused, is backed off.
		src := newEvilPeer(t, false)
		src.trees, src.files, src.chunks = evil.trees, evil.files, evil.chunks
		start := time.Now()
		err := n1.Node.PullFrom(context.Background(), c.id, []string{src.addr})
		if !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("%s: %v, want invalid", c.name, err)
		}
		t.Logf("%s: refused in %s: %v", c.name, time.Since(start).Round(time.Millisecond), err)
		if _, err := n1.Local.Store().Snapshot(c.id); err == nil {
			t.Errorf("%s: recorded", c.name)
		}
		if !strings.Contains(n1.Log.String(), "rejected what a source sent") {
			t.Errorf("%s: the rejection is not logged", c.name)
		}
	}
	if got := n1.Serves(t, "current"); got != v1 {
		t.Errorf("n1 serves %s, want %s", got.Short(), v1.Short())
	}
	if ok, why := n1.Ready(); !ok {
		t.Errorf("n1 is not ready after refusing a hostile source: %s", why)
	}
}

// A release that holds a 0600 file goes out over mutual TLS: members
// present certificates and get private contents. Without TLS the peer
// listener refuses them, and the member says why it cannot stage.
func TestPrivateContentNeedsMutualTLS(t *testing.T) {
	t.Parallel()
	secret := map[string]string{"index.html": "<h1>v1</h1>"}
	for _, withTLS := range []bool{true, false} {
		t.Run(fmt.Sprintf("tls=%v", withTLS), func(t *testing.T) {
			t.Parallel()
			f := New(t, 3, Options{PeerTLS: withTLS})
			n1 := f.Node("n1")
			dir := t.TempDir()
			for name, body := range secret {
				os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
			}
			os.WriteFile(filepath.Join(dir, "deploy.env"), []byte("TOKEN=hunter2"), 0o600)
			res, err := snapshot.ImportDir(context.Background(), n1.Local, dir, snapshot.ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			v1 := res.Snapshot.ID
			if withTLS {
				release(t, n1, "current", v1)
				AllServe(t, 10*time.Second, "current", v1, f.Node("n2"), f.Node("n3"))
				return
			}
			a, err := n1.Activate("current", v1, 3*time.Second, true)
			if err == nil && a.Committed {
				t.Fatalf("a release with a private content went out over plain peer listeners: %+v", a)
			}
			Eventually(t, 10*time.Second, func() (bool, string) {
				l := f.Node("n2").Log.String()
				return strings.Contains(l, "private content"), "n2 does not say the content is private:\n" + l
			})
		})
	}
}
