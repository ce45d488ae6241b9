package snapshot

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vfs-project/vfs/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// writeTree creates files (path -> content) below dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readPath returns the content of a file in a snapshot.
func readPath(t *testing.T, st *store.Store, id store.Ref, p string) string {
	t.Helper()
	e, err := Lookup(st, id, p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenFile(st, e.Ref)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var site = map[string]string{
	"index.html":              "<h1>hello</h1>",
	"assets/main-3f2a1b9c.js": "console.log(1)",
	"assets/copy.js":          "console.log(1)",
	"deep/a/b/c/d.txt":        "deep",
	"odd name \x01.txt":       "bytes kept",
	"empty":                   "",
	"big.bin":                 string(bytes.Repeat([]byte("0123456789abcdef"), store.ChunkSize/8+3)),
}

func TestImportDir(t *testing.T) {
	st := openStore(t)
	dir := t.TempDir()
	writeTree(t, dir, site)
	os.Chmod(filepath.Join(dir, "index.html"), 0o755)
	os.Symlink("assets/main-3f2a1b9c.js", filepath.Join(dir, "latest.js"))
	res, err := ImportDir(context.Background(), st, dir, ImportOptions{Labels: []string{"v1"}})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Snapshot.ID
	for p, want := range site {
		if got := readPath(t, st, id, p); got != want {
			t.Errorf("%q: got %d bytes, want %d", p, len(got), len(want))
		}
	}
	if e, _ := Lookup(st, id, "index.html"); e.Mode != 0o755 {
		t.Errorf("index.html mode %v, want 0755", e.Mode)
	}
	if e, _ := Lookup(st, id, "latest.js"); e.Kind != store.KindSymlink || e.Target != "assets/main-3f2a1b9c.js" {
		t.Errorf("latest.js = %+v", e)
	}
	a, _ := Lookup(st, id, "assets/main-3f2a1b9c.js")
	b, _ := Lookup(st, id, "assets/copy.js")
	if a.Ref != b.Ref {
		t.Error("identical files got different refs")
	}
	if res.Stats.Files != int64(len(site)) || res.Snapshot.Files != uint64(len(site)) {
		t.Errorf("counted %d files, want %d", res.Stats.Files, len(site))
	}
	if rep, err := Verify(context.Background(), st, nil, nil); err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func TestReimportUsesStatCache(t *testing.T) {
	st := openStore(t)
	dir := t.TempDir()
	writeTree(t, dir, site)
	old := time.Now().Add(-time.Hour) // outside the racy window
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, old, old) })
	first, err := ImportDir(context.Background(), st, dir, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	again, err := ImportDir(context.Background(), st, dir, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Snapshot.ID != first.Snapshot.ID {
		t.Fatal("same tree gave another id")
	}
	if again.Stats.BytesRead != 0 || again.Stats.FilesCached != int64(len(site)) {
		t.Fatalf("re-import read %d bytes, cached %d files", again.Stats.BytesRead, again.Stats.FilesCached)
	}
	writeTree(t, dir, map[string]string{"index.html": "<h1>changed</h1>"})
	os.Chtimes(filepath.Join(dir, "index.html"), old.Add(time.Minute), old.Add(time.Minute))
	third, err := ImportDir(context.Background(), st, dir, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if third.Stats.BytesRead != int64(len("<h1>changed</h1>")) || third.Snapshot.ID == first.Snapshot.ID {
		t.Fatalf("after one change: read %d bytes, id changed %v", third.Stats.BytesRead, third.Snapshot.ID != first.Snapshot.ID)
	}
	if got := readPath(t, st, third.Snapshot.ID, "index.html"); got != "<h1>changed</h1>" {
		t.Fatalf("index.html = %q", got)
	}
}

func TestImportDirRefusesWhatItCannotKeep(t *testing.T) {
	cases := map[string]func(dir string) error{
		"escaping symlink": func(dir string) error { return os.Symlink("../../etc/passwd", filepath.Join(dir, "x")) },
		"absolute symlink": func(dir string) error { return os.Symlink("/etc/passwd", filepath.Join(dir, "x")) },
		"fifo":             func(dir string) error { return syscall.Mkfifo(filepath.Join(dir, "x"), 0o644) },
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			st := openStore(t)
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"ok.txt": "ok"})
			if err := mk(dir); err != nil {
				t.Fatal(err)
			}
			_, err := ImportDir(context.Background(), st, dir, ImportOptions{})
			if !errors.Is(err, ErrUnsupported) || !bytes.Contains([]byte(err.Error()), []byte("x:")) {
				t.Fatalf("import: %v, want ErrUnsupported naming x", err)
			}
			if all, _ := st.Snapshots(); len(all) != 0 {
				t.Fatal("a refused import left a snapshot")
			}
			res, err := ImportDir(context.Background(), st, dir, ImportOptions{SkipUnsupported: true})
			if err != nil || res.Stats.Skipped != 1 {
				t.Fatalf("skip: %v, skipped %d", err, res.Stats.Skipped)
			}
			if _, err := Lookup(st, res.Snapshot.ID, "x"); !errors.Is(err, store.ErrNotFound) {
				t.Fatal("skipped entry is in the snapshot")
			}
		})
	}
}

type member struct {
	name, body, link string
	typ              byte
}

func makeTar(t *testing.T, gz bool, members []member) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, m := range members {
		h := &tar.Header{Name: m.name, Typeflag: m.typ, Mode: 0o644, Size: int64(len(m.body)), Linkname: m.link, ModTime: time.Unix(1700000000, 0)}
		if m.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(m.body))
	}
	tw.Close()
	if zw != nil {
		zw.Close()
	}
	return buf.Bytes()
}

func TestImportTar(t *testing.T) {
	members := []member{
		{name: "./index.html", body: "<h1>hi</h1>", typ: tar.TypeReg},
		{name: "assets/app-BxK3f9aQ.js", body: "x()", typ: tar.TypeReg}, // parent not declared
		{name: "assets/link.js", link: "app-BxK3f9aQ.js", typ: tar.TypeSymlink},
		{name: "assets/hard.js", link: "assets/app-BxK3f9aQ.js", typ: tar.TypeLink},
	}
	for _, gz := range []bool{false, true} {
		st := openStore(t)
		res, err := ImportTar(context.Background(), st, bytes.NewReader(makeTar(t, gz, members)), "site.tar", ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := readPath(t, st, res.Snapshot.ID, "assets/hard.js"); got != "x()" {
			t.Fatalf("gz=%v hard link: %q", gz, got)
		}
		if got := readPath(t, st, res.Snapshot.ID, "index.html"); got != "<h1>hi</h1>" {
			t.Fatalf("gz=%v index: %q", gz, got)
		}
	}
}

func TestImportTarRefusesUnsafeMembers(t *testing.T) {
	for _, m := range []member{
		{name: "../evil", body: "x", typ: tar.TypeReg},
		{name: "a/../../evil", body: "x", typ: tar.TypeReg},
		{name: "/etc/evil", body: "x", typ: tar.TypeReg},
		{name: "dev", typ: tar.TypeChar},
		{name: "fifo", typ: tar.TypeFifo},
		{name: "l", link: "../../etc/shadow", typ: tar.TypeSymlink},
		{name: "h", link: "../etc/shadow", typ: tar.TypeLink},
	} {
		st := openStore(t)
		data := makeTar(t, false, []member{{name: "ok", body: "ok", typ: tar.TypeReg}, m})
		_, err := ImportTar(context.Background(), st, bytes.NewReader(data), "bad.tar", ImportOptions{})
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", m.name, err)
		}
		res, err := ImportTar(context.Background(), st, bytes.NewReader(data), "bad.tar", ImportOptions{SkipUnsupported: true})
		if err != nil || res.Stats.Skipped != 1 || res.Snapshot.Files != 1 {
			t.Errorf("%s skipped: %v, skipped %d, files %d", m.name, err, res.Stats.Skipped, res.Snapshot.Files)
		}
	}
}

func TestDirAndTarOfSameTreeGiveSameID(t *testing.T) {
	st := openStore(t)
	dir := t.TempDir()
	writeTree(t, dir, site)
	os.Chmod(dir, 0o755)
	a, err := ImportDir(context.Background(), st, dir, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := ExportTar(st, a.Snapshot.ID, &buf); err != nil {
		t.Fatal(err)
	}
	b, err := ImportTar(context.Background(), st, &buf, "export.tar", ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Snapshot.ID != b.Snapshot.ID {
		t.Fatalf("dir %s, its tar export %s", a.Snapshot.ID.Short(), b.Snapshot.ID.Short())
	}
	out := filepath.Join(t.TempDir(), "out")
	if err := ExportDir(st, a.Snapshot.ID, out); err != nil {
		t.Fatal(err)
	}
	c, err := ImportDir(context.Background(), st, out, ImportOptions{})
	if err != nil || c.Snapshot.ID != a.Snapshot.ID {
		t.Fatalf("re-import of the directory export: %v, same id %v", err, c.Snapshot.ID == a.Snapshot.ID)
	}
	e, _ := Lookup(st, a.Snapshot.ID, "index.html")
	rec, _ := st.File(e.Ref)
	fi, _ := os.Stat(filepath.Join(out, "index.html"))
	if fi.ModTime().Unix() != rec.MTime {
		t.Fatalf("exported mtime %d, content mtime %d", fi.ModTime().Unix(), rec.MTime)
	}
}

// A tar import leaves out VCS metadata and what Exclude names too.
func TestImportTarFilters(t *testing.T) {
	members := []member{
		{name: "index.html", body: "<h1>hi</h1>", typ: tar.TypeReg},
		{name: ".git/", typ: tar.TypeDir},
		{name: ".git/config", body: "[remote] url = https://token@example.com", typ: tar.TypeReg},
		{name: "app.js.map", body: "{}", typ: tar.TypeReg},
	}
	st := openStore(t)
	res, err := ImportTar(context.Background(), st, bytes.NewReader(makeTar(t, false, members)), "site.tar", ImportOptions{Exclude: []string{"*.map"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".git/config", ".git", "app.js.map"} {
		if _, err := Lookup(st, res.Snapshot.ID, p); err == nil {
			t.Errorf("%s was imported", p)
		}
	}
	if res.Stats.Excluded != 3 || readPath(t, st, res.Snapshot.ID, "index.html") != "<h1>hi</h1>" {
		t.Errorf("excluded %d", res.Stats.Excluded)
	}
}
