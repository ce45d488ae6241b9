package ctl

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// serve starts the socket server on a temporary path over a fresh store
// and returns a connected client.
func serve(t *testing.T, setup func(*Local)) (*Client, *Local) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	local := &Local{Store: st}
	if setup != nil {
		setup(local)
	}
	go Serve(l, local, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c, err := Dial(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, local
}

func TestImportAndActivateThroughTheSocket(t *testing.T) {
	retargeted := make(chan store.Ref, 1)
	c, local := serve(t, func(l *Local) { l.OnRetarget = func(ref string, id store.Ref, _ uint64) { retargeted <- id } })
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(dir, "big.bin"), make([]byte, 3*store.ChunkSize+5), 0o644)
	res, err := snapshot.ImportDir(context.Background(), c, dir, snapshot.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	direct, _ := snapshot.ImportDir(context.Background(), local.Store, dir, snapshot.ImportOptions{})
	if res.Snapshot.ID != direct.Snapshot.ID {
		t.Fatal("the socket and the store gave the same tree different ids")
	}
	e, err := c.Activate(snapshot.DefaultRef, res.Snapshot.ID, "test", true)
	if err != nil || e.PID != os.Getpid() {
		t.Fatalf("activate: %+v %v", e, err)
	}
	if got := <-retargeted; got != res.Snapshot.ID {
		t.Fatalf("the file system hook saw %s", got.Short())
	}
	ent, _ := snapshot.Lookup(c, res.Snapshot.ID, "big.bin")
	r, _ := snapshot.OpenFile(c, ent.Ref)
	if b, err := io.ReadAll(r); err != nil || len(b) != 3*store.ChunkSize+5 {
		t.Fatalf("read through the socket: %d bytes, %v", len(b), err)
	}
	if _, err := snapshot.Resolve(c, "nosuchlabel"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("not found through the socket: %v", err)
	}
	if err := c.Remove(res.Snapshot.ID); !errors.Is(err, store.ErrInUse) {
		t.Fatalf("remove of the active snapshot through the socket: %v", err)
	}
}

// A client that claims content under a hash it does not have is refused:
// the daemon re-hashes what it was sent.
func TestDaemonRefusesFalseClaims(t *testing.T) {
	c, local := serve(t, nil)
	b, err := c.Begin()
	if err != nil {
		t.Fatal(err)
	}
	chunk, _ := b.PutChunk([]byte("attacker bytes"))
	victim := store.Sum([]byte("a well-known script"))
	if _, err := b.PutFile(victim, 14, 1, []store.Ref{chunk}); err != nil {
		t.Fatal(err)
	}
	root, _ := b.PutTree(&store.Tree{Entries: []store.Entry{{Name: "x.js", Kind: store.KindFile, Mode: 0o644, Ref: victim, Size: 14}}})
	if _, err := b.Commit(store.SnapshotInfo{ID: root}); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("commit with a false claim: %v, want ErrCorrupt", err)
	}
	if ok, _ := local.HasFile(victim); ok {
		t.Fatal("the false file record was stored")
	}
	// A tree naming content that is not stored cannot become a snapshot.
	b, _ = c.Begin()
	root, _ = b.PutTree(&store.Tree{Entries: []store.Entry{{Name: "x.js", Kind: store.KindFile, Mode: 0o644, Ref: victim, Size: 19}}})
	if _, err := b.Commit(store.SnapshotInfo{ID: root}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("commit of an incomplete snapshot: %v", err)
	}
}
