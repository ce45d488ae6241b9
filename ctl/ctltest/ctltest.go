// Package ctltest is the conformance suite of ctl.API: the in-process
// implementation (ctl.Local) and the socket client (ctl.Client) must
// answer every operation alike, fields and error kinds included. Run it
// from a test of each implementation, in the manner of a storage test
// suite:
//
//	ctltest.Run(t, func(t *testing.T) ctl.API { ... a fresh, empty store ... })
//
// The API must record the caller as the current process (uid and pid),
// which is what the daemon learns from the socket.
//
// CheckGenerated, beside it, keeps a generated part of a document (the API
// and CLI references) current.
package ctltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// Run runs every case of the suite, each on a fresh API from open.
func Run(t *testing.T, open func(t *testing.T) ctl.API) {
	cases := []struct {
		name string
		fn   func(t *testing.T, api ctl.API)
	}{
		{"ImportAndRead", testImportAndRead},
		{"ReimportUsesStatCache", testReimport},
		{"ActivateAndRollback", testActivate},
		{"RemoveAndLabels", testRemoveAndLabels},
		{"Settings", testSettings},
		{"PruneVerifyGC", testPruneVerifyGC},
		{"Purge", testPurge},
		{"Backup", testBackup},
		{"RefusedImports", testRefusedImports},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open(t)) })
	}
}

var ctx = context.Background()

// site writes a small site below a new directory, with mtimes old enough
// for the stat cache to trust, and returns the directory.
func site(t *testing.T, version string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{
		"index.html":        []byte("<h1>" + version + "</h1>"),
		"assets/app.js":     []byte("console.log('" + version + "')"),
		"assets/shared.css": []byte("body{}"),
		"big.bin":           bytes.Repeat([]byte(version+"-"), (3*store.ChunkSize+5)/(len(version)+1)+1)[:3*store.ChunkSize+5],
	}
	old := time.Now().Add(-time.Hour)
	for name, b := range files {
		p := filepath.Join(dir, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, b, 0o644))
		must(t, os.Chtimes(p, old, old))
	}
	must(t, os.Symlink("index.html", filepath.Join(dir, "home.html")))
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func importSite(t *testing.T, api ctl.API, version string, labels ...string) (snapshot.Result, string) {
	t.Helper()
	dir := site(t, version)
	res, err := snapshot.ImportDir(ctx, api, dir, snapshot.ImportOptions{Labels: labels, Message: "version " + version})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return res, dir
}

func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: %v; want %v (kind %s)", what, err, kind, ctl.KindOf(kind).Name)
	}
}

func read(t *testing.T, api ctl.API, id store.Ref, path string) []byte {
	t.Helper()
	e, err := snapshot.Lookup(api, id, path)
	if err != nil {
		t.Fatalf("lookup %s: %v", path, err)
	}
	r, err := snapshot.OpenFile(api, e.Ref)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return b
}

func testImportAndRead(t *testing.T, api ctl.API) {
	res, dir := importSite(t, api, "v1", "first")
	info := res.Snapshot
	if info.ID.IsZero() || info.Files != 4 || info.Dirs == 0 || info.Bytes == 0 || info.Message != "version v1" || len(info.Labels) != 1 || info.Created.IsZero() {
		t.Errorf("snapshot record: %+v", info)
	}
	if info.Source != dir {
		t.Errorf("source %q, want %q", info.Source, dir)
	}
	got, err := api.Snapshot(info.ID)
	if err != nil || got.ID != info.ID || got.Files != info.Files || got.Message != info.Message || !got.Created.Equal(info.Created) {
		t.Errorf("Snapshot: %+v, %v; want %+v", got, err, info)
	}
	all, err := api.Snapshots()
	if err != nil || len(all) != 1 || all[0].ID != info.ID {
		t.Errorf("Snapshots: %+v, %v", all, err)
	}
	if id, err := api.Label("first"); err != nil || id != info.ID {
		t.Errorf("Label: %s, %v", id.Short(), err)
	}
	if id, err := snapshot.Resolve(api, info.ID.String()[:8]); err != nil || id != info.ID {
		t.Errorf("Resolve by prefix: %s, %v", id.Short(), err)
	}
	if b := read(t, api, info.ID, "index.html"); string(b) != "<h1>v1</h1>" {
		t.Errorf("index.html: %q", b)
	}
	if b := read(t, api, info.ID, "big.bin"); len(b) != 3*store.ChunkSize+5 || !bytes.HasPrefix(b, []byte("v1-v1-")) {
		t.Errorf("big.bin: %d bytes", len(b))
	}
	tree, err := api.Tree(info.ID)
	if err != nil || len(tree.Entries) != 4 {
		t.Fatalf("root tree: %+v, %v", tree, err)
	}
	link, _ := tree.Lookup("home.html")
	if link.Kind != store.KindSymlink || link.Target != "index.html" || link.Mode == 0 {
		t.Errorf("symlink entry: %+v", link)
	}
	big, _ := tree.Lookup("big.bin")
	f, err := api.File(big.Ref)
	if err != nil || f.Ref != big.Ref || f.Size != 3*store.ChunkSize+5 || len(f.Chunks) != 4 || f.MTime == 0 || f.ChunkSize != store.ChunkSize {
		t.Errorf("file record: %+v, %v", f, err)
	}
	// A read past the end stops at the end; a read in the middle of a chunk
	// gets those bytes.
	p := make([]byte, 10)
	if n, err := api.ReadAt(f, p, int64(f.Size)-3); n != 3 || err != nil {
		t.Errorf("ReadAt at the end: %d, %v", n, err)
	}
	if n, err := api.ReadAt(f, p, store.ChunkSize-5); n != 10 || err != nil || string(p[:3]) != string(read(t, api, info.ID, "big.bin")[store.ChunkSize-5:store.ChunkSize-2]) {
		t.Errorf("ReadAt across chunks: %d, %v", n, err)
	}
	missing := store.Sum([]byte("nothing has this"))
	_, err = api.Snapshot(missing)
	wantKind(t, "Snapshot of an unknown id", err, store.ErrNotFound)
	_, err = api.Tree(missing)
	wantKind(t, "Tree of an unknown hash", err, store.ErrNotFound)
	_, err = api.File(missing)
	wantKind(t, "File of an unknown hash", err, store.ErrNotFound)
	_, err = api.Label("nosuchlabel")
	wantKind(t, "Label unknown", err, store.ErrNotFound)
	_, err = snapshot.Resolve(api, "nosuchlabel")
	wantKind(t, "Resolve unknown", err, store.ErrNotFound)
	st, err := api.Status(ctx)
	if err != nil || st.Snapshots != 1 || st.Store == "" || st.Bytes <= 0 || st.Refs == nil {
		t.Errorf("Status: %+v, %v", st, err)
	}
}

func testReimport(t *testing.T, api ctl.API) {
	dir := site(t, "v1")
	first, err := snapshot.ImportDir(ctx, api, dir, snapshot.ImportOptions{})
	must(t, err)
	again, err := snapshot.ImportDir(ctx, api, dir, snapshot.ImportOptions{})
	must(t, err)
	if again.Snapshot.ID != first.Snapshot.ID || again.Stats.FilesCached != 4 || again.Stats.BytesRead != 0 {
		t.Errorf("re-import: %s cached %d read %d; want %s, 4 cached, 0 read", again.Snapshot.ID.Short(), again.Stats.FilesCached, again.Stats.BytesRead, first.Snapshot.ID.Short())
	}
	// A copy of the tree misses the stat cache (other paths and inodes),
	// is read again, and finds every byte already stored.
	// Every chunk of the site is distinct (big.bin's three full chunks
	// start at three phases of its pattern), so all its bytes are new;
	// through the socket, chunks go in requests two at a time, and each
	// answer must count only its own.
	if first.Stats.BytesNew != first.Stats.Bytes {
		t.Errorf("first import: %d bytes new of %d", first.Stats.BytesNew, first.Stats.Bytes)
	}
	// 20 MiB of distinct small chunks: through the socket, three requests
	// of chunks, two at a time.
	many := t.TempDir()
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 1700; i++ {
		b := make([]byte, 12<<10)
		rng.Read(b)
		must(t, os.WriteFile(filepath.Join(many, fmt.Sprintf("f%04d.bin", i)), b, 0o644))
	}
	res, err := snapshot.ImportDir(ctx, api, many, snapshot.ImportOptions{})
	must(t, err)
	if res.Stats.BytesNew != res.Stats.Bytes {
		t.Errorf("import of distinct small files: %d bytes new of %d", res.Stats.BytesNew, res.Stats.Bytes)
	}
	copied, err := snapshot.ImportDir(ctx, api, site(t, "v1"), snapshot.ImportOptions{})
	must(t, err)
	if copied.Snapshot.ID != first.Snapshot.ID || copied.Stats.FilesCached != 0 || copied.Stats.BytesRead == 0 || copied.Stats.BytesNew != 0 {
		t.Errorf("import of a copy: %+v", copied.Stats)
	}
}

func testActivate(t *testing.T, api ctl.API) {
	v1, _ := importSite(t, api, "v1")
	v2, _ := importSite(t, api, "v2")
	_, err := api.Rollback(ctx, snapshot.DefaultRef, "nothing yet")
	wantKind(t, "rollback before any activation", err, snapshot.ErrNoHistory)
	a, err := api.Activate(ctx, snapshot.DefaultRef, v1.Snapshot.ID, "first release", true)
	must(t, err)
	if a.Seq == 0 || a.Ref != snapshot.DefaultRef || a.To != v1.Snapshot.ID || !a.From.IsZero() || a.Reason != "first release" ||
		a.UID != os.Getuid() || a.PID != os.Getpid() || a.Time.IsZero() || a.Unchanged || a.HookFailures == nil {
		t.Errorf("activation: %+v", a)
	}
	again, err := api.Activate(ctx, snapshot.DefaultRef, v1.Snapshot.ID, "again", false)
	if err != nil || !again.Unchanged || again.To != v1.Snapshot.ID {
		t.Errorf("re-activation: %+v, %v", again, err)
	}
	b, err := api.Activate(ctx, snapshot.DefaultRef, v2.Snapshot.ID, "second", false)
	if err != nil || b.From != v1.Snapshot.ID || b.Seq <= a.Seq || b.Prev.IsZero() {
		t.Errorf("second activation: %+v, %v", b, err)
	}
	r, err := api.Rollback(ctx, snapshot.DefaultRef, "bad release")
	if err != nil || r.To != v1.Snapshot.ID || r.From != v2.Snapshot.ID || r.Reason != "bad release" {
		t.Errorf("rollback: %+v, %v", r, err)
	}
	refs, err := api.NamedRefs()
	if err != nil || refs[snapshot.DefaultRef] != v1.Snapshot.ID {
		t.Errorf("refs: %v, %v", refs, err)
	}
	log, err := api.Log()
	if err != nil || len(log) != 3 || log[2].Reason != "bad release" || log[0].To != v1.Snapshot.ID {
		t.Errorf("log: %+v, %v", log, err)
	}
	_, err = api.Activate(ctx, "a/b", v1.Snapshot.ID, "", false)
	wantKind(t, "activate a ref named a/b", err, store.ErrInvalid)
	_, err = api.Activate(ctx, snapshot.DefaultRef, store.Sum([]byte("no such snapshot")), "", false)
	wantKind(t, "activate an unknown snapshot", err, store.ErrNotFound)
	st, err := api.Status(ctx)
	if err != nil || st.Refs[snapshot.DefaultRef] != v1.Snapshot.ID || st.Snapshots != 2 {
		t.Errorf("status: %+v, %v", st, err)
	}
	// A ref other than current can be removed, and the log says so.
	_, err = api.RemoveRef(ctx, snapshot.DefaultRef, "")
	wantKind(t, "remove current", err, store.ErrInvalid)
	_, err = api.Activate(ctx, "preview", v2.Snapshot.ID, "", false)
	must(t, err)
	e, err := api.RemoveRef(ctx, "preview", "done with it")
	if err != nil || e.From != v2.Snapshot.ID || !e.To.IsZero() || e.Reason != "done with it" || e.UID != os.Getuid() {
		t.Errorf("remove ref: %+v %v", e, err)
	}
	if refs, err := api.NamedRefs(); err != nil || !refs["preview"].IsZero() || refs[snapshot.DefaultRef] != v1.Snapshot.ID {
		t.Errorf("refs after removing preview: %v %v", refs, err)
	}
	_, err = api.RemoveRef(ctx, "preview", "")
	wantKind(t, "remove a ref that is gone", err, store.ErrNotFound)
}

func testRemoveAndLabels(t *testing.T, api ctl.API) {
	v1, _ := importSite(t, api, "v1")
	v2, _ := importSite(t, api, "v2")
	_, err := api.Activate(ctx, snapshot.DefaultRef, v1.Snapshot.ID, "", false)
	must(t, err)
	wantKind(t, "remove the active snapshot", api.RemoveSnapshot(ctx, v1.Snapshot.ID), store.ErrInUse)
	if _, err := api.SetLabel(ctx, v2.Snapshot.ID, "release-2", false); err != nil {
		t.Fatal(err)
	}
	_, err = api.SetLabel(ctx, v1.Snapshot.ID, "release-2", false)
	wantKind(t, "a label taken by another snapshot", err, store.ErrLabelTaken)
	_, err = api.SetLabel(ctx, v1.Snapshot.ID, "a/b", false)
	wantKind(t, "a label with a slash", err, store.ErrInvalid)
	if id, err := api.Label("release-2"); err != nil || id != v2.Snapshot.ID {
		t.Errorf("label: %s, %v", id.Short(), err)
	}
	// Labels move and go; they keep nothing from retention.
	if from, err := api.SetLabel(ctx, v1.Snapshot.ID, "release-2", true); err != nil || from != v2.Snapshot.ID {
		t.Errorf("move label: from %s, %v", from.Short(), err)
	}
	if id, _ := api.Label("release-2"); id != v1.Snapshot.ID {
		t.Errorf("the moved label names %s", id.Short())
	}
	if from, err := api.RemoveLabel(ctx, "release-2"); err != nil || from != v1.Snapshot.ID {
		t.Errorf("remove label: from %s, %v", from.Short(), err)
	}
	_, err = api.RemoveLabel(ctx, "release-2")
	wantKind(t, "remove a removed label", err, store.ErrNotFound)
	if _, err := api.SetLabel(ctx, v2.Snapshot.ID, "release-2", false); err != nil {
		t.Fatal(err)
	}
	// A pinned snapshot is kept by retention and refused by removal.
	must(t, api.SetPinned(ctx, v2.Snapshot.ID, true))
	if info, _ := api.Snapshot(v2.Snapshot.ID); !info.Pinned {
		t.Errorf("not pinned: %+v", info)
	}
	wantKind(t, "remove a pinned snapshot", api.RemoveSnapshot(ctx, v2.Snapshot.ID), store.ErrInUse)
	d, err := api.Prune(ctx, snapshot.Policy{}, true, false)
	for _, x := range d {
		if x.Snapshot.ID == v2.Snapshot.ID && (!x.Keep || x.Reasons[0] != "pinned") {
			t.Errorf("prune of a pinned snapshot: %+v %v", x, err)
		}
	}
	must(t, api.SetPinned(ctx, v2.Snapshot.ID, false))
	wantKind(t, "pin an unknown snapshot", api.SetPinned(ctx, store.Sum([]byte("none")), true), store.ErrNotFound)
	// An explicit removal takes a labelled snapshot, and its labels.
	must(t, api.RemoveSnapshot(ctx, v2.Snapshot.ID))
	_, err = api.Label("release-2")
	wantKind(t, "the label of a removed snapshot", err, store.ErrNotFound)
	v3, _ := importSite(t, api, "v3")
	must(t, api.RemoveSnapshot(ctx, v3.Snapshot.ID))
	_, err = api.Snapshot(v3.Snapshot.ID)
	wantKind(t, "a removed snapshot", err, store.ErrNotFound)
	wantKind(t, "remove it again", api.RemoveSnapshot(ctx, v3.Snapshot.ID), store.ErrNotFound)
}

func testSettings(t *testing.T, api ctl.API) {
	c, err := api.Classes(ctx)
	if err != nil || len(c.Include) != 0 {
		t.Errorf("default classes: %+v, %v", c, err)
	}
	want := snapshot.Classes{Include: []string{"static/**"}, Exclude: []string{"*.html"}}
	must(t, api.SetClasses(ctx, want))
	if c, err := api.Classes(ctx); err != nil || len(c.Include) != 1 || c.Include[0] != "static/**" || c.Exclude[0] != "*.html" {
		t.Errorf("classes: %+v, %v", c, err)
	}
	wantKind(t, "a malformed pattern", api.SetClasses(ctx, snapshot.Classes{Include: []string{"[x"}}), store.ErrInvalid)
	p, err := api.Policy(ctx)
	if err != nil || p != snapshot.DefaultPolicy {
		t.Errorf("default policy: %+v, %v", p, err)
	}
	mine := snapshot.Policy{KeepLast: 3, KeepWithin: 36 * time.Hour}
	must(t, api.SetPolicy(ctx, mine))
	if p, err := api.Policy(ctx); err != nil || p != mine {
		t.Errorf("policy: %+v, %v", p, err)
	}
	wantKind(t, "a negative policy", api.SetPolicy(ctx, snapshot.Policy{KeepLast: -1}), store.ErrInvalid)
}

func testPruneVerifyGC(t *testing.T, api ctl.API) {
	// v1 and v2 share shared.css: 7 distinct files.
	v1, _ := importSite(t, api, "v1")
	v2, _ := importSite(t, api, "v2")
	_, err := api.Activate(ctx, snapshot.DefaultRef, v2.Snapshot.ID, "", false)
	must(t, err)
	keepOne := snapshot.Policy{KeepLast: 1}
	d, err := api.Prune(ctx, keepOne, true, false)
	if err != nil || len(d) != 2 {
		t.Fatalf("prune dry run: %+v, %v", d, err)
	}
	for _, x := range d {
		if x.Keep != (x.Snapshot.ID == v2.Snapshot.ID) || (x.Keep && len(x.Reasons) == 0) || x.Reasons == nil {
			t.Errorf("decision: %+v", x)
		}
	}
	if _, err := api.Snapshot(v1.Snapshot.ID); err != nil {
		t.Errorf("a dry run removed a snapshot: %v", err)
	}
	var steps []string
	var verified []snapshot.VerifyProgress
	rep, err := api.VerifySnapshots(ctx, nil, func(p snapshot.VerifyProgress) { verified = append(verified, p) })
	if err != nil || !rep.OK() || rep.Snapshots != 2 || rep.Files != 7 || rep.Problems == nil || rep.LogBreaks == nil {
		t.Errorf("verify: %+v, %v", rep, err)
	}
	if len(verified) == 0 || verified[0].SnapshotsTotal != 2 || verified[0].Files == 0 {
		t.Errorf("verify progress: %+v", verified)
	}
	_, err = api.VerifySnapshots(ctx, []store.Ref{store.Sum([]byte("none"))}, nil)
	wantKind(t, "verify of an unknown snapshot", err, store.ErrNotFound)
	if _, err := api.Prune(ctx, keepOne, false, false); err != nil {
		t.Fatal(err)
	}
	_, err = api.Snapshot(v1.Snapshot.ID)
	wantKind(t, "a pruned snapshot", err, store.ErrNotFound)
	gc, err := api.CollectGarbage(ctx, func(p ctl.GCProgress) { steps = append(steps, p.Step) })
	if err != nil || gc.Files != 3 || gc.Chunks == 0 || gc.Trees == 0 || gc.Snapshots != 1 || gc.BytesBefore == 0 {
		t.Errorf("gc: %+v, %v", gc, err)
	}
	if len(steps) == 0 || steps[0] != "mark and sweep" {
		t.Errorf("gc progress: %q", steps)
	}
	if b := read(t, api, v2.Snapshot.ID, "big.bin"); len(b) != 3*store.ChunkSize+5 {
		t.Errorf("after gc: big.bin has %d bytes", len(b))
	}
}

func testPurge(t *testing.T, api ctl.API) {
	v1, _ := importSite(t, api, "v1")
	recs, err := api.PurgeContent(ctx, "assets/app.js", "leaked key")
	if err != nil || len(recs) != 1 || recs[0].Path != "assets/app.js" || recs[0].Reason != "leaked key" || recs[0].UID != os.Getuid() || recs[0].Ref.IsZero() || recs[0].Time.IsZero() {
		t.Errorf("purge: %+v, %v", recs, err)
	}
	if b := read(t, api, v1.Snapshot.ID, "assets/app.js"); string(b) != "console.log('v1')" {
		t.Errorf("a purged file's snapshot lost it: %q", b)
	}
	_, err = api.PurgeContent(ctx, "no/such/file", "")
	wantKind(t, "purge of a path no snapshot has", err, store.ErrNotFound)
	_, err = api.PurgeContent(ctx, store.Sum([]byte("x")).String(), "")
	wantKind(t, "purge of an unknown hash", err, store.ErrNotFound)
}

func testBackup(t *testing.T, api ctl.API) {
	v1, _ := importSite(t, api, "v1")
	var buf bytes.Buffer
	must(t, api.Backup(ctx, &buf))
	dst, err := store.Open(t.TempDir(), store.Options{})
	must(t, err)
	defer dst.Close()
	must(t, dst.Restore(&buf))
	if _, err := dst.Snapshot(v1.Snapshot.ID); err != nil {
		t.Errorf("restored backup lacks the snapshot: %v", err)
	}
	if problems, err := dst.Verify(v1.Snapshot.ID, nil); err != nil || len(problems) > 0 {
		t.Errorf("restored backup: %v %v", problems, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := api.Backup(cancelled, io.Discard); err == nil {
		t.Errorf("a backup went on after its context ended")
	}
}

// testRefusedImports sends trees vfsctl's importer would never make: the
// API refuses them, at once or at commit, and records nothing.
func testRefusedImports(t *testing.T, api ctl.API) {
	for name, entries := range map[string][]store.Entry{
		"name ..":          {{Name: "..", Kind: store.KindFile, Mode: 0o644}},
		"absolute symlink": {{Name: "p", Kind: store.KindSymlink, Mode: 0o777, Target: "/etc/passwd"}},
		"unsorted": {
			{Name: "b", Kind: store.KindSymlink, Mode: 0o777, Target: "a"},
			{Name: "a", Kind: store.KindSymlink, Mode: 0o777, Target: "b/x"},
		},
	} {
		b, err := api.Begin()
		must(t, err)
		root, err := b.PutTree(&store.Tree{Entries: entries})
		if err != nil {
			wantKind(t, name+": PutTree", err, store.ErrInvalid)
			b.Abort()
			continue
		}
		_, err = b.Commit(store.SnapshotInfo{ID: root, Created: time.Now()})
		wantKind(t, name+": Commit", err, store.ErrInvalid)
		if _, err := api.Snapshot(root); err == nil {
			t.Errorf("%s: recorded", name)
		}
	}
	// After a commit or an abort the import takes no more writes.
	b, err := api.Begin()
	must(t, err)
	b.Abort()
	if _, err := b.Commit(store.SnapshotInfo{}); !errors.Is(err, store.ErrImportEnded) {
		t.Errorf("commit after abort: %v", err)
	}
}
