package ctl_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/ctl/ctltest"
	"github.com/vfs-project/vfs/precompress"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

var me = snapshot.Who{UID: os.Getuid(), PID: os.Getpid()}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// daemon serves a fresh store on a socket, as vfsd does, and returns the
// server, the socket's path and the store.
func daemon(t *testing.T, setup func(*ctl.Local)) (*ctl.Server, string, *store.Store) {
	t.Helper()
	return daemonWith(t, setup, nil)
}

// daemonWith is daemon with the server's settings changed by setupServer
// before it serves.
func daemonWith(t *testing.T, setup func(*ctl.Local), setupServer func(*ctl.Server)) (*ctl.Server, string, *store.Store) {
	t.Helper()
	st := openStore(t)
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	local := ctl.NewLocal(st, snapshot.Who{})
	if setup != nil {
		setup(local)
	}
	srv := ctl.NewServer(local, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if setupServer != nil {
		setupServer(srv)
	}
	go srv.Serve(l)
	t.Cleanup(func() { l.Close(); srv.Shutdown(5 * time.Second) })
	return srv, sock, st
}

func dial(t *testing.T, sock string) *ctl.Client {
	t.Helper()
	c, err := ctl.Dial(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConformanceLocal(t *testing.T) {
	ctltest.Run(t, func(t *testing.T) ctl.API { return ctl.NewLocal(openStore(t), me) })
}

func TestConformanceSocket(t *testing.T) {
	ctltest.Run(t, func(t *testing.T) ctl.API {
		_, sock, _ := daemon(t, nil)
		return dial(t, sock)
	})
}

// raw speaks HTTP to the socket directly, as curl or a hostile client
// would, skipping every check the Go client makes.
type raw struct {
	t  *testing.T
	hc *http.Client
}

func rawClient(t *testing.T, sock string) raw {
	return raw{t: t, hc: &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}}
}

// do sends body (JSON unless it is []byte) and returns the status and the
// answer.
func (r raw) do(method, path string, body any) (int, []byte) {
	r.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			r.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, "http://vfs"+path, rd)
	resp, err := r.hc.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// ok sends and decodes a 200 answer into v.
func (r raw) ok(method, path string, body, v any) {
	r.t.Helper()
	status, out := r.do(method, path, body)
	if status != http.StatusOK {
		r.t.Fatalf("%s %s: %d %s", method, path, status, out)
	}
	if v != nil {
		if err := json.Unmarshal(out, v); err != nil {
			r.t.Fatalf("%s %s: %v in %s", method, path, err, out)
		}
	}
}

// refused checks an error answer's status and kind.
func (r raw) refused(method, path string, body any, status int, kind string) {
	r.t.Helper()
	got, out := r.do(method, path, body)
	var e struct{ Kind, Message string }
	json.Unmarshal(out, &e)
	if got != status || e.Kind != kind || e.Message == "" {
		r.t.Errorf("%s %s: %d %s; want %d and kind %s", method, path, got, out, status, kind)
	}
}

func frames(chunks ...[]byte) []byte {
	var b []byte
	for _, c := range chunks {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return b
}

// A client that files content under a hash it does not have is refused:
// the daemon re-hashes what it was sent.
func TestDaemonRefusesFalseClaims(t *testing.T) {
	_, sock, st := daemon(t, nil)
	r := rawClient(t, sock)
	var imp ctl.ImportStarted
	r.ok("POST", "/v1/imports", nil, &imp)
	chunk := []byte("attacker bytes")
	r.ok("POST", "/v1/imports/"+imp.ID+"/chunks", frames(chunk), nil)
	victim := store.Sum([]byte("a well-known script"))
	tree := store.Tree{Entries: []store.Entry{{Name: "x.js", Kind: store.KindFile, Mode: 0o644, Ref: victim, Size: 14}}}
	var trees struct{ Trees []store.Ref }
	r.ok("POST", "/v1/imports/"+imp.ID+"/objects", map[string]any{
		"files": []map[string]any{{"ref": victim, "size": 14, "mtime": 1, "chunks": []store.Ref{store.Sum(chunk)}}},
		"trees": []store.Tree{tree},
	}, &trees)
	// The client lied, the store is sound: invalid, not corrupt.
	r.refused("POST", "/v1/imports/"+imp.ID+"/commit", map[string]any{"id": trees.Trees[0]}, http.StatusBadRequest, "invalid")
	if ok, _ := st.HasFile(victim); ok {
		t.Fatal("the false file record was stored")
	}
	// A tree naming content that is not stored cannot become a snapshot.
	r.ok("POST", "/v1/imports", nil, &imp)
	r.ok("POST", "/v1/imports/"+imp.ID+"/objects", map[string]any{"trees": []store.Tree{tree}}, &trees)
	r.refused("POST", "/v1/imports/"+imp.ID+"/commit", map[string]any{"id": trees.Trees[0]}, http.StatusNotFound, "not_found")
	// The import ended with its failed commit.
	r.refused("POST", "/v1/imports/"+imp.ID+"/chunks", frames([]byte("more")), http.StatusGone, "import_ended")
}

// Requests that break the protocol's own rules get clear errors.
func TestMalformedRequests(t *testing.T) {
	_, sock, _ := daemon(t, nil)
	r := rawClient(t, sock)
	r.refused("GET", "/v1/nosuch", nil, http.StatusNotFound, "not_found")
	r.refused("POST", "/v1/status", nil, http.StatusNotFound, "not_found")
	r.refused("GET", "/v1/snapshots/xyz", nil, http.StatusBadRequest, "invalid")
	r.refused("GET", "/v1/snapshots/"+strings.Repeat("ab", 32), nil, http.StatusNotFound, "not_found")
	r.refused("POST", "/v1/refs/current/activate", []byte("{not json"), http.StatusBadRequest, "invalid")
	r.refused("POST", "/v1/refs/current/activate", map[string]any{"id": strings.Repeat("ab", 32), "surprise": 1}, http.StatusBadRequest, "invalid")
	r.refused("GET", "/v1/status?timeout=soon", nil, http.StatusBadRequest, "invalid")
	r.refused("POST", "/v1/imports/nosuch/chunks", frames([]byte("x")), http.StatusNotFound, "not_found")
	var imp ctl.ImportStarted
	r.ok("POST", "/v1/imports", nil, &imp)
	big := binary.AppendUvarint(nil, store.ChunkSize+1)
	r.refused("POST", "/v1/imports/"+imp.ID+"/chunks", big, http.StatusBadRequest, "invalid")
	r.refused("POST", "/v1/imports/"+imp.ID+"/chunks", append(binary.AppendUvarint(nil, 10), "short"...), http.StatusBadRequest, "invalid")
	r.refused("POST", "/v1/imports/"+imp.ID+"/objects", map[string]any{"trees": []map[string]any{{"entries": []map[string]any{{"name": "x", "kind": "socket"}}}}}, http.StatusBadRequest, "invalid")
	r.refused("GET", "/v1/files/"+strings.Repeat("ab", 32)+"/content", nil, http.StatusNotFound, "not_found")
}

// Every kind in the table travels: a daemon's error arrives as an error
// errors.Is matches against the same sentinel, with the kind's status.
func TestEveryKindRoundTrips(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range ctl.Kinds {
		if seen[k.Name] {
			t.Errorf("kind %s twice", k.Name)
		}
		seen[k.Name] = true
		if k.Status < 400 || k.Exit < 1 || k.Doc == "" {
			t.Errorf("kind %s: status %d exit %d doc %q", k.Name, k.Status, k.Exit, k.Doc)
		}
		if k.Err == nil {
			continue
		}
		got := ctl.RoundTrip(fmt.Errorf("context: %w", k.Err))
		if !errors.Is(got, k.Err) || ctl.KindOf(got).Name != k.Name || !strings.HasPrefix(got.Error(), "context: ") {
			t.Errorf("kind %s came back as %v (%s)", k.Name, got, ctl.KindOf(got).Name)
		}
	}
	if ctl.KindOf(errors.New("x")).Name != "error" {
		t.Error("an unknown error is not of kind error")
	}
}

// An import whose client goes silent loses its lease: it is aborted, later
// writes are refused, and GC may take what it wrote.
func TestSilentImportLosesItsLease(t *testing.T) {
	_, sock, st := daemon(t, func(l *ctl.Local) { l.ImportLease = 100 * time.Millisecond })
	r := rawClient(t, sock)
	var imp ctl.ImportStarted
	r.ok("POST", "/v1/imports", nil, &imp)
	left := []byte("left behind")
	r.ok("POST", "/v1/imports/"+imp.ID+"/chunks", frames(left), nil)
	time.Sleep(400 * time.Millisecond)
	status, out := r.do("POST", "/v1/imports/"+imp.ID+"/chunks", frames([]byte("too late")))
	if status != http.StatusGone || !strings.Contains(string(out), "--import-lease") {
		t.Fatalf("write after the lease ran out: %d %s", status, out)
	}
	if _, err := st.GC(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.HasChunk(store.Sum(left)); ok {
		t.Fatal("GC kept a chunk of an import that lost its lease")
	}
	// A busy import keeps its lease: a slow request does not lose it.
	c := dial(t, sock)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "i"), []byte("hello"), 0o644)
	if _, err := snapshot.ImportDir(context.Background(), c, dir, snapshot.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Imports belong to the uid that began them, and are bounded in number.
func TestImportsAreBounded(t *testing.T) {
	_, sock, _ := daemon(t, nil)
	r := rawClient(t, sock)
	for i := 0; i < 16; i++ {
		r.ok("POST", "/v1/imports", nil, nil)
	}
	r.refused("POST", "/v1/imports", nil, http.StatusServiceUnavailable, "busy")
}

// The object endpoints serve verified objects by kind and hash, singly and
// in batches, on the socket and on the peer listener, which serves nothing
// else.
func TestObjects(t *testing.T) {
	srv, sock, st := daemon(t, nil)
	c := dial(t, sock)
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), store.ChunkSize/16+10)
	os.WriteFile(filepath.Join(dir, "big"), big, 0o644)
	res, err := snapshot.ImportDir(context.Background(), c, dir, snapshot.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServePeers(tl)
	base := "http://" + tl.Addr().String()
	get := func(path string) (int, []byte) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	root := res.Snapshot.ID
	tree, _ := st.Tree(root)
	f, _ := st.File(tree.Entries[0].Ref)
	if code, b := get("/v1/objects/tree/" + root.String()); code != 200 || store.Sum(b) != root {
		t.Errorf("tree: %d, %d bytes", code, len(b))
	}
	if code, b := get("/v1/objects/chunk/" + f.Chunks[1].String()); code != 200 || store.Sum(b) != f.Chunks[1] {
		t.Errorf("chunk: %d, %d bytes", code, len(b))
	}
	if code, b := get("/v1/objects/file/" + f.Ref.String()); code != 200 || !strings.Contains(string(b), f.Chunks[0].String()) {
		t.Errorf("file: %d %s", code, b)
	}
	if code, _ := get("/v1/snapshots/" + root.String()); code != 200 {
		t.Errorf("snapshot record on the peer listener: %d", code)
	}
	for _, p := range []string{"/v1/status", "/v1/backup", "/v1/log", "/v1/objects/socket/" + root.String()} {
		if code, _ := get(p); code != 404 && code != 400 {
			t.Errorf("peer listener serves %s: %d", p, code)
		}
	}
	// One fetch, in order, with a missing object marked.
	missing := store.Sum([]byte("nobody has this"))
	body, _ := json.Marshal(map[string]any{"objects": []ctl.ObjectID{
		{Kind: ctl.ObjectChunk, Ref: f.Chunks[0]}, {Kind: ctl.ObjectChunk, Ref: missing}, {Kind: ctl.ObjectTree, Ref: root},
	}})
	resp, err := http.Post(base+"/v1/objects/fetch", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	stream, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var got []string
	for len(stream) > 0 {
		tag, ref := stream[0], store.Ref(stream[1:33])
		n, k := binary.Uvarint(stream[33:])
		obj := stream[33+k : 33+k+int(n)]
		stream = stream[33+k+int(n):]
		if tag != 'x' && store.Sum(obj) != ref {
			t.Errorf("fetched %c %s does not hash to its ref", tag, ref.Short())
		}
		got = append(got, fmt.Sprintf("%c %s", tag, ref.Short()))
	}
	want := []string{"c " + f.Chunks[0].Short(), "x " + missing.Short(), "t " + root.Short()}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("fetch: %v, want %v", got, want)
	}
}

// A client that hangs up stops the daemon's work: a backup whose reader
// stops reading and then goes away ends on the daemon too.
func TestHangUpStopsWork(t *testing.T) {
	srv, sock, _ := daemon(t, nil)
	c := dial(t, sock)
	dir := t.TempDir()
	noise := make([]byte, 16<<20)
	for i := range noise {
		noise[i] = byte(i*7919 + i>>8)
	}
	os.WriteFile(filepath.Join(dir, "noise"), noise, 0o644)
	if _, err := snapshot.ImportDir(context.Background(), c, dir, snapshot.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stalled := make(chan struct{})
	done := make(chan error)
	go func() { done <- c.Backup(ctx, stallingWriter{stalled, ctx}) }()
	<-stalled
	if srv.Requests() != 1 {
		t.Fatalf("%d requests running during the backup", srv.Requests())
	}
	cancel()
	if err := <-done; !errors.Is(err, ctl.ErrInterrupted) {
		t.Fatalf("backup after the client gave up: %v", err)
	}
	for i := 0; srv.Requests() > 0; i++ {
		if i == 1000 {
			t.Fatal("the daemon's backup went on after its client hung up")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stallingWriter takes one write, then blocks until its context ends.
type stallingWriter struct {
	stalled chan struct{}
	ctx     context.Context
}

func (w stallingWriter) Write(p []byte) (int, error) {
	select {
	case <-w.stalled:
	default:
		close(w.stalled)
	}
	<-w.ctx.Done()
	return 0, w.ctx.Err()
}

// docs/api.md's reference is generated from the endpoint table; it must be
// current. VFS_UPDATE_DOCS=1 rewrites it.
func TestAPIReferenceIsCurrent(t *testing.T) {
	ctltest.CheckGenerated(t, "../docs/api.md", "<!-- generated by ctl.Reference: do not edit -->\n",
		"<!-- end of generated reference -->\n", ctl.Reference())
}

// The binary form of an import's records is checked as strictly as JSON:
// a truncated or malformed stream is refused, and changes nothing.
func TestMalformedRecords(t *testing.T) {
	_, sock, _ := daemon(t, nil)
	r := rawClient(t, sock)
	var imp ctl.ImportStarted
	r.ok("POST", "/v1/imports", nil, &imp)
	ref := store.Sum([]byte("x"))
	file := append([]byte{'f'}, ref[:]...)
	file = binary.AppendUvarint(file, 1) // size
	file = binary.AppendVarint(file, 1)  // mtime
	file = binary.AppendUvarint(file, 1) // one chunk
	file = append(file, ref[:]...)       // its hash
	tooManyChunks := append([]byte{'f'}, ref[:]...)
	tooManyChunks = binary.AppendUvarint(tooManyChunks, 1)
	tooManyChunks = binary.AppendVarint(tooManyChunks, 1)
	tooManyChunks = binary.AppendUvarint(tooManyChunks, 1<<40)
	for name, body := range map[string][]byte{
		"unknown tag":          {'q'},
		"truncated file":       file[:len(file)-1],
		"chunk count too big":  tooManyChunks,
		"tree too long":        binary.AppendUvarint([]byte{'t'}, 1<<30),
		"tree not an encoding": append(binary.AppendUvarint([]byte{'t'}, 3), "abc"...),
		"truncated stat":       append(binary.AppendUvarint([]byte{'s'}, 4), "/a"...),
	} {
		req, _ := http.NewRequest("POST", "http://vfs/v1/imports/"+imp.ID+"/objects", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctl.RecordsType)
		resp, err := r.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(out), `"invalid"`) {
			t.Errorf("%s: %d %s", name, resp.StatusCode, out)
		}
	}
	// A good stream is taken.
	req, _ := http.NewRequest("POST", "http://vfs/v1/imports/"+imp.ID+"/objects", bytes.NewReader(file))
	req.Header.Set("Content-Type", ctl.RecordsType)
	resp, err := r.hc.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a good record: %v %v", resp.Status, err)
	}
	resp.Body.Close()
}

// A snapshot pulled from a peer whose bytes were altered on the way is
// refused: the client checks every chunk and tree against its hash, and
// nothing is recorded.
func TestPullRefusesAlteredObjects(t *testing.T) {
	srv, sock, _ := daemon(t, nil)
	c := dial(t, sock)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>real</h1>"), 0o644)
	res, err := snapshot.ImportDir(context.Background(), c, dir, snapshot.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServePeers(peer)
	// A man in the middle flips the last byte of every fetch answer.
	mitm, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(mitm, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequest(r.Method, "http://"+peer.Addr().String()+r.URL.Path, r.Body)
		req.Header = r.Header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.HasSuffix(r.URL.Path, "/fetch") && len(b) > 0 {
			b[len(b)-1] ^= 1
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(b)
	}))
	dst := openStore(t)
	src := ctl.DialPeer(context.Background(), mitm.Addr().String(), ctl.PeerOptions{})
	_, _, err = snapshot.Pull(context.Background(), src, store.Verifying(dst), res.Snapshot.ID, nil)
	if !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("pull through an altering peer: %v, want ErrCorrupt", err)
	}
	if _, err := dst.Snapshot(res.Snapshot.ID); err == nil {
		t.Fatal("an altered snapshot was recorded")
	}
	// Straight from the peer it works.
	if _, _, err := snapshot.Pull(context.Background(), ctl.DialPeer(context.Background(), peer.Addr().String(), ctl.PeerOptions{}), store.Verifying(dst), res.Snapshot.ID, nil); err != nil {
		t.Fatal(err)
	}
}

// A newer client tells an older daemon (no such route: it then leaves
// the variants to the daemon's commit) from a missing import.
func TestNoRouteIsToldFromNotFound(t *testing.T) {
	_, sock, _ := daemon(t, nil)
	c := dial(t, sock)
	if ok, err := ctl.CallMissingRoute(c); !ok {
		t.Errorf("a route the daemon lacks: %v, not taken for one", err)
	}
	if ok, err := ctl.CallMissingImport(c); ok || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a missing import: %v (taken for a missing route: %v)", err, ok)
	}
}

// A client that sends a variant of other bytes is refused at commit, and
// nothing is recorded: the daemon decompresses every variant it is sent.
func TestDaemonRefusesFalseVariants(t *testing.T) {
	_, sock, st := daemon(t, nil)
	comp, _ := precompress.New(nil)
	st.SetCompressor(comp)
	r := rawClient(t, sock)
	var imp ctl.ImportStarted
	r.ok("POST", "/v1/imports", nil, &imp)
	content := bytes.Repeat([]byte("export const real = 1;\n"), 100)
	var lie bytes.Buffer
	zw := gzip.NewWriter(&lie)
	zw.Write(bytes.Repeat([]byte("alert('not the file');\n"), 100))
	zw.Close()
	r.ok("POST", "/v1/imports/"+imp.ID+"/chunks", frames(content, lie.Bytes()), nil)
	ref, lieRef := store.Sum(content), store.Sum(lie.Bytes())
	tree := store.Tree{Entries: []store.Entry{{Name: "app.js", Kind: store.KindFile, Mode: 0o644, Ref: ref, Size: uint64(len(content))}}}
	var trees struct{ Trees []store.Ref }
	r.ok("POST", "/v1/imports/"+imp.ID+"/objects", map[string]any{
		"files": []map[string]any{{"ref": ref, "size": len(content), "mtime": 1, "chunks": []store.Ref{ref}}},
		"trees": []store.Tree{tree},
	}, &trees)
	r.ok("POST", "/v1/imports/"+imp.ID+"/variants", map[string]any{"variants": []map[string]any{{
		"content": ref, "encoding": "gzip",
		"file": map[string]any{"ref": lieRef, "size": lie.Len(), "mtime": 1, "chunks": []store.Ref{lieRef}},
	}}}, nil)
	r.refused("POST", "/v1/imports/"+imp.ID+"/commit", map[string]any{"id": trees.Trees[0]}, http.StatusBadRequest, "invalid")
	if _, ok, _ := st.Variant(ref, store.Gzip); ok {
		t.Error("the false variant was recorded")
	}
	if _, err := st.Snapshot(trees.Trees[0]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the snapshot was recorded: %v", err)
	}
	// A malformed one is refused at once.
	r.ok("POST", "/v1/imports", nil, &imp)
	r.refused("POST", "/v1/imports/"+imp.ID+"/variants", map[string]any{"variants": []map[string]any{{
		"content": ref, "encoding": "gzip", "none": true,
		"file": map[string]any{"ref": lieRef, "size": lie.Len(), "mtime": 1, "chunks": []store.Ref{lieRef}},
	}}}, http.StatusBadRequest, "invalid")
}
