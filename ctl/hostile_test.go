package ctl

import (
	"errors"
	"net/rpc"
	"strings"
	"testing"
	"time"

	"github.com/vfs-project/vfs/store"
)

// rawSession speaks the socket protocol directly, as a hostile client
// would, skipping every check vfsctl's own code makes.
type rawSession struct {
	t  *testing.T
	rc *rpc.Client
	// refused counts trees the daemon refused as invalid at PutTree.
	refused *int
}

func (r rawSession) call(method string, args, reply any) error {
	return decodeErr(r.rc.Call("VFS."+method, args, reply))
}

func (r rawSession) must(method string, args, reply any) {
	r.t.Helper()
	if err := r.call(method, args, reply); err != nil {
		r.t.Fatalf("%s: %v", method, err)
	}
}

// tree stores a tree built from entries and returns its ref. A tree the
// daemon refuses at once gets the ref of its encoding all the same, so
// that the test can check that no such snapshot is ever recorded.
func (r rawSession) tree(entries ...store.Entry) store.Ref {
	r.t.Helper()
	var ref store.Ref
	if err := r.call("PutTree", store.Tree{Entries: entries}, &ref); err != nil {
		if !errors.Is(err, store.ErrInvalid) {
			r.t.Fatalf("PutTree: %v", err)
		}
		*r.refused++
		data, _ := store.EncodeTree(&store.Tree{Entries: entries})
		return store.Sum(data)
	}
	return ref
}

func dirEntry(name string, ref store.Ref) store.Entry {
	return store.Entry{Name: name, Kind: store.KindDir, Mode: 0o755, Ref: ref}
}

func linkEntry(name, target string) store.Entry {
	return store.Entry{Name: name, Kind: store.KindSymlink, Mode: 0o777, Target: target}
}

// chainedEscape is a tree whose links each stay inside when read alone but
// escape together: d1/.../d10/up climbs to the root, and leak climbs one
// level more through it.
func chainedEscape(r rawSession) store.Ref {
	sub := r.tree(linkEntry("up", strings.Repeat("../", 9)+".."))
	for i := 10; i > 1; i-- {
		sub = r.tree(dirEntry("d"+string(rune('0'+i%10)), sub))
	}
	path := "d1/d2/d3/d4/d5/d6/d7/d8/d9/d0/up/"
	return r.tree(dirEntry("d1", sub), linkEntry("leak", path+strings.Repeat("../", 11)+"etc/passwd"))
}

// Trees a hostile client sends straight to the socket are refused at
// commit, whatever vfsctl would have checked: nothing is recorded.
func TestDaemonRefusesHostileTrees(t *testing.T) {
	c, local := serve(t, nil)
	conn := rawDial(t, c)
	r := rawSession{t: t, rc: conn, refused: new(int)}
	r.must("Begin", true, new(bool))
	var chunk store.Ref
	r.must("PutChunk", []byte("hello"), &chunk)
	r.must("PutFile", PutFileArgs{Ref: chunk, Size: 5, MTime: 1, Chunks: []store.Ref{chunk}}, new(int64))
	file := func(name string) store.Entry {
		return store.Entry{Name: name, Kind: store.KindFile, Mode: 0o644, Ref: chunk, Size: 5}
	}
	cases := map[string]func() store.Ref{
		"name ../../escape": func() store.Ref { return r.tree(file("../../escape")) },
		"name a/b":          func() store.Ref { return r.tree(file("a/b")) },
		"name ..":           func() store.Ref { return r.tree(file("..")) },
		"name .":            func() store.Ref { return r.tree(file(".")) },
		"name with NUL":     func() store.Ref { return r.tree(file("a\x00b")) },
		"name of 256 bytes": func() store.Ref { return r.tree(file(strings.Repeat("x", 256))) },
		"non-UTF-8 name":    func() store.Ref { return r.tree(file("caf\xe9")) },
		"absolute symlink":  func() store.Ref { return r.tree(linkEntry("p", "/etc/passwd")) },
		"climbing symlink":  func() store.Ref { return r.tree(linkEntry("p", "../../../etc/passwd")) },
		"nested climb": func() store.Ref {
			return r.tree(dirEntry("d", r.tree(linkEntry("p", "../../x"))))
		},
		"chained escape": func() store.Ref { return chainedEscape(r) },
		"symlink loop": func() store.Ref {
			return r.tree(linkEntry("a", "b/x"), linkEntry("b", "a/x"))
		},
		"size that lies": func() store.Ref {
			e := file("x")
			e.Size = 6
			return r.tree(e)
		},
	}
	for name, mk := range cases {
		// PutTree may refuse the tree at once; if not, Commit must.
		*r.refused = 0
		root := mk()
		var out store.SnapshotInfo
		if err := r.call("Commit", store.SnapshotInfo{ID: root}, &out); err == nil {
			t.Errorf("%s: committed as %s", name, out.ID.Short())
		} else if *r.refused == 0 && !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: refused, but not as invalid: %v", name, err)
		}
		if _, err := local.Snapshot(root); err == nil {
			t.Errorf("%s: a snapshot was recorded", name)
		}
		r.must("Begin", true, new(bool))
		r.must("PutChunk", []byte("hello"), &chunk)
		r.must("PutFile", PutFileArgs{Ref: chunk, Size: 5, MTime: 1, Chunks: []store.Ref{chunk}}, new(int64))
	}
	// A good tree with a bad label is refused too, and so is the label
	// alone on an existing snapshot.
	good := r.tree(file("index.html"), linkEntry("home.html", "index.html"))
	for _, label := range []string{"@x/y", "a/b", "..", "-rf", "two words", ""} {
		if err := r.call("Commit", store.SnapshotInfo{ID: good, Labels: []string{label}}, new(store.SnapshotInfo)); err == nil {
			t.Errorf("label %q accepted at commit", label)
		}
		r.must("Begin", true, new(bool))
		r.must("PutChunk", []byte("hello"), &chunk)
		r.must("PutFile", PutFileArgs{Ref: chunk, Size: 5, MTime: 1, Chunks: []store.Ref{chunk}}, new(int64))
		good = r.tree(file("index.html"), linkEntry("home.html", "index.html"))
	}
	r.must("Commit", store.SnapshotInfo{ID: good}, new(store.SnapshotInfo))
	for _, label := range []string{"@x/y", "a/b", ".."} {
		if err := r.call("AddLabel", LabelArgs{ID: good, Name: label}, new(bool)); err == nil {
			t.Errorf("label %q accepted by AddLabel", label)
		}
	}
	for _, ref := range []string{"a/b", "..", "@now"} {
		if err := r.call("Activate", ActivateArgs{Ref: ref, ID: good}, new(Activation)); err == nil {
			t.Errorf("ref name %q accepted", ref)
		}
	}
}

// rawDial opens a second, raw connection to the server c is connected to.
func rawDial(t *testing.T, c *Client) *rpc.Client {
	t.Helper()
	rc, err := rpc.Dial("unix", c.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	return rc
}

// An import whose client goes silent loses its lease: it is aborted, later
// writes are refused, and GC may take what it wrote.
func TestSilentImportLosesItsLease(t *testing.T) {
	c, local := serve(t, func(l *Local) { l.ImportLease = 100 * time.Millisecond })
	b, err := c.Begin()
	if err != nil {
		t.Fatal(err)
	}
	chunk, err := b.PutChunk([]byte("left behind"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := b.PutChunk([]byte("too late")); !errors.Is(err, store.ErrImportEnded) {
		t.Fatalf("write after the lease ran out: %v, want ErrImportEnded", err)
	}
	if _, err := local.GC(); err != nil {
		t.Fatal(err)
	}
	if ok, _ := local.HasChunk(chunk); ok {
		t.Fatal("GC kept a chunk of an import that lost its lease")
	}
	// A fresh import on the same connection works.
	b, _ = c.Begin()
	ref, _ := b.PutChunk([]byte("hello"))
	b.PutFile(ref, 5, 1, []store.Ref{ref})
	root, _ := b.PutTree(&store.Tree{Entries: []store.Entry{{Name: "i", Kind: store.KindFile, Mode: 0o644, Ref: ref, Size: 5}}})
	if _, err := b.Commit(store.SnapshotInfo{ID: root}); err != nil {
		t.Fatal(err)
	}
}
