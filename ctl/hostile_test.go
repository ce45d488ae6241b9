package ctl_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/store"
)

// hostile is an import a hostile client drives over raw HTTP.
type hostile struct {
	raw
	id      string
	chunk   store.Ref
	refused int // trees refused at once, when sent
}

func (h *hostile) begin() {
	var imp ctl.ImportStarted
	h.ok("POST", "/v1/imports", nil, &imp)
	h.id = imp.ID
	data := []byte("hello")
	h.chunk = store.Sum(data)
	h.ok("POST", "/v1/imports/"+h.id+"/chunks", frames(data), nil)
	h.ok("POST", "/v1/imports/"+h.id+"/objects", map[string]any{
		"files": []map[string]any{{"ref": h.chunk, "size": 5, "mtime": 1, "chunks": []store.Ref{h.chunk}}},
	}, nil)
}

// tree sends a tree built from entries and returns its ref. A tree the
// daemon refuses at once gets the ref of its encoding all the same, so
// that the test can check that no such snapshot is ever recorded.
func (h *hostile) tree(entries ...store.Entry) store.Ref {
	h.t.Helper()
	var ans struct{ Trees []store.Ref }
	status, out := h.do("POST", "/v1/imports/"+h.id+"/objects", map[string]any{"trees": []store.Tree{{Entries: entries}}})
	if status == http.StatusOK {
		if err := jsonUnmarshal(out, &ans); err != nil || len(ans.Trees) != 1 {
			h.t.Fatalf("objects: %s", out)
		}
		return ans.Trees[0]
	}
	if status != http.StatusBadRequest || !strings.Contains(string(out), `"invalid"`) {
		h.t.Fatalf("tree refused, but not as invalid: %d %s", status, out)
	}
	h.refused++
	// The import is still open: a refused request changes nothing.
	data, _ := store.EncodeTree(&store.Tree{Entries: entries})
	return store.Sum(data)
}

// commit asks for a snapshot and returns the error kind ("" on success).
func (h *hostile) commit(info map[string]any) string {
	status, out := h.do("POST", "/v1/imports/"+h.id+"/commit", info)
	if status == http.StatusOK {
		return ""
	}
	var e struct{ Kind string }
	jsonUnmarshal(out, &e)
	return e.Kind
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
func chainedEscape(r *hostile) store.Ref {
	sub := r.tree(linkEntry("up", strings.Repeat("../", 9)+".."))
	for i := 10; i > 1; i-- {
		sub = r.tree(dirEntry("d"+string(rune('0'+i%10)), sub))
	}
	path := "d1/d2/d3/d4/d5/d6/d7/d8/d9/d0/up/"
	return r.tree(dirEntry("d1", sub), linkEntry("leak", path+strings.Repeat("../", 11)+"etc/passwd"))
}

// Trees a hostile client sends straight to the socket are refused at
// once or at commit, whatever vfsctl would have checked: nothing is
// recorded.
func TestDaemonRefusesHostileTrees(t *testing.T) {
	_, sock, st := daemon(t, nil)
	r := &hostile{raw: rawClient(t, sock)}
	r.begin()
	file := func(name string) store.Entry {
		return store.Entry{Name: name, Kind: store.KindFile, Mode: 0o644, Ref: r.chunk, Size: 5}
	}
	cases := map[string]func() store.Ref{
		"name ../../escape": func() store.Ref { return r.tree(file("../../escape")) },
		"name a/b":          func() store.Ref { return r.tree(file("a/b")) },
		"name ..":           func() store.Ref { return r.tree(file("..")) },
		"name .":            func() store.Ref { return r.tree(file(".")) },
		"name with NUL":     func() store.Ref { return r.tree(file("a\x00b")) },
		"name of 256 bytes": func() store.Ref { return r.tree(file(strings.Repeat("x", 256))) },
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
		r.refused = 0
		root := mk()
		if kind := r.commit(map[string]any{"id": root}); kind == "" {
			t.Errorf("%s: committed", name)
		} else if r.refused == 0 && kind != "invalid" {
			t.Errorf("%s: refused, but as %s", name, kind)
		}
		if _, err := st.Snapshot(root); err == nil {
			t.Errorf("%s: a snapshot was recorded", name)
		}
		r.begin()
	}
	// JSON cannot carry a non-UTF-8 name: it arrives as U+FFFD, and the
	// tree's ref then differs from the one the client meant.
	// A good tree with a bad label is refused too, and so is the label
	// alone on an existing snapshot.
	for _, label := range []string{"@x/y", "a/b", "..", "-rf", "two words", ""} {
		good := r.tree(file("index.html"), linkEntry("home.html", "index.html"))
		if kind := r.commit(map[string]any{"id": good, "labels": []string{label}}); kind != "invalid" {
			t.Errorf("label %q at commit: kind %q", label, kind)
		}
		r.begin()
	}
	good := r.tree(file("index.html"), linkEntry("home.html", "index.html"))
	if kind := r.commit(map[string]any{"id": good}); kind != "" {
		t.Fatalf("a good tree: %s", kind)
	}
	for _, label := range []string{"@x", "..", "-rf"} {
		r.raw.refused("POST", "/v1/snapshots/"+good.String()+"/labels", map[string]any{"label": label}, http.StatusBadRequest, "invalid")
	}
	for _, ref := range []string{"@now", "-x"} {
		r.raw.refused("POST", "/v1/refs/"+ref+"/activate", map[string]any{"id": good}, http.StatusBadRequest, "invalid")
	}
}

func jsonUnmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return errors.New(string(b))
	}
	return nil
}

// treeRecords encodes trees as the binary records stream carries them.
func treeRecords(trees ...*store.Tree) []byte {
	var b []byte
	for _, t := range trees {
		data, err := store.EncodeTree(t)
		if err != nil {
			panic(err)
		}
		b = append(b, 't')
		b = binary.AppendUvarint(b, uint64(len(data)))
		b = append(b, data...)
	}
	return b
}

// A DAG of 41 trees that names 2^40 paths and a chain of 80,000
// directories cost the daemon their bytes: each commit is refused as
// invalid, and a gc started meanwhile finishes.
func TestDaemonRefusesExplosiveTrees(t *testing.T) {
	_, sock, st := daemon(t, nil)
	r := &hostile{raw: rawClient(t, sock)}
	leaf := &store.Tree{Entries: []store.Entry{{Name: "f", Kind: store.KindFile, Mode: 0o644, Ref: store.Sum([]byte("hello")), Size: 5}}}
	dag := []*store.Tree{leaf}
	chain := []*store.Tree{leaf}
	for i := 0; i < 80000; i++ {
		prev, _ := store.EncodeTree(chain[len(chain)-1])
		chain = append(chain, &store.Tree{Entries: []store.Entry{dirEntry("d", store.Sum(prev))}})
		if i < 40 {
			prev, _ := store.EncodeTree(dag[len(dag)-1])
			dag = append(dag, &store.Tree{Entries: []store.Entry{dirEntry("a", store.Sum(prev)), dirEntry("b", store.Sum(prev))}})
		}
	}
	for name, trees := range map[string][]*store.Tree{"2^40 paths": dag, "80,000 levels": chain} {
		r.begin()
		for i := 0; i < len(trees); i += 8192 {
			req, _ := http.NewRequest("POST", "http://vfs/v1/imports/"+r.id+"/objects", bytes.NewReader(treeRecords(trees[i:min(i+8192, len(trees))]...)))
			req.Header.Set("Content-Type", ctl.RecordsType)
			resp, err := r.hc.Do(req)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: sending trees: %v %v", name, err, resp.Status)
			}
			resp.Body.Close()
		}
		gcDone := make(chan error, 1)
		go func() { _, err := st.GC(context.Background(), nil, nil); gcDone <- err }()
		top, _ := store.EncodeTree(trees[len(trees)-1])
		start := time.Now()
		if kind := r.commit(map[string]any{"id": store.Sum(top)}); kind != "invalid" {
			t.Errorf("%s: commit answered %q, want invalid", name, kind)
		}
		t.Logf("%s: refused in %s", name, time.Since(start).Round(time.Millisecond))
		if err := <-gcDone; err != nil {
			t.Errorf("%s: gc meanwhile: %v", name, err)
		}
	}
}
