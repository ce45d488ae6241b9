package ctl_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// Input the API once took, or answered with the wrong kind: each is
// refused as invalid, quickly, with nothing recorded.
func TestRequestsOutOfBounds(t *testing.T) {
	_, sock, st := daemon(t, nil)
	r := rawClient(t, sock)
	var imp ctl.ImportStarted
	r.ok("POST", "/v1/imports", nil, &imp)
	data := []byte("<h1>hello</h1>")
	ref := store.Sum(data)
	r.ok("POST", "/v1/imports/"+imp.ID+"/chunks", frames(data), nil)
	var trees struct{ Trees []store.Ref }
	r.ok("POST", "/v1/imports/"+imp.ID+"/objects", map[string]any{
		"files": []map[string]any{{"ref": ref, "size": len(data), "mtime": 1, "chunks": []store.Ref{ref}}},
		"trees": []store.Tree{{Entries: []store.Entry{{Name: "index.html", Kind: store.KindFile, Mode: 0o644, Ref: ref, Size: uint64(len(data))}}}},
	}, &trees)
	root := trees.Trees[0]

	// A stat path longer than a Badger key may be.
	long := strings.Repeat("x", 70000)
	r.refused("POST", "/v1/imports/"+imp.ID+"/objects", map[string]any{"stats": []map[string]any{{"path": long, "stat": map[string]any{"ref": ref}}}}, http.StatusBadRequest, "invalid")
	r.refused("POST", "/v1/imports/"+imp.ID+"/cached", map[string]any{"queries": []map[string]any{{"path": long}}}, http.StatusBadRequest, "invalid")

	// A hand-made import's counts are the daemon's, not the client's.
	var info store.SnapshotInfo
	r.ok("POST", "/v1/imports/"+imp.ID+"/commit", map[string]any{"id": root, "files": 1 << 40, "bytes": 7, "dirs": 0}, &info)
	if info.Files != 1 || info.Bytes != uint64(len(data)) || info.Dirs != 1 {
		t.Errorf("the snapshot records the client's counts: %+v", info)
	}

	// Free text has a bound; a 60 MiB reason was once stored.
	activate := "/v1/refs/current/activate"
	r.refused("POST", activate, map[string]any{"id": root, "reason": strings.Repeat("r", store.MaxTextLen+1)}, http.StatusBadRequest, "invalid")
	r.refused("POST", "/v1/refs/current/rollback", map[string]any{"reason": strings.Repeat("r", store.MaxTextLen+1)}, http.StatusBadRequest, "invalid")
	// One JSON object, and one only.
	body := []byte(`{"id":"` + root.String() + `"}{"id":"` + root.String() + `"}`)
	r.refused("POST", activate, body, http.StatusBadRequest, "invalid")
	r.refused("POST", activate, []byte("null"), http.StatusBadRequest, "invalid")
	r.refused("POST", activate, []byte("[]"), http.StatusBadRequest, "invalid")
	r.refused("POST", activate, []byte("{}"), http.StatusBadRequest, "invalid")
	r.refused("POST", activate, nil, http.StatusBadRequest, "invalid")
	if log, _ := st.Log(); len(log) != 0 {
		t.Fatalf("refused activations were logged: %+v", log)
	}
	r.ok("POST", activate, []byte(" {\"id\":\""+root.String()+"\"}\n "), nil)

	// A range whose end is the largest int64 is a range to the end.
	req, _ := http.NewRequest("GET", "http://vfs/v1/files/"+ref.String()+"/content", nil)
	req.Header.Set("Range", "bytes=0-9223372036854775807")
	resp, err := r.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	got.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got.Bytes(), data) {
		t.Errorf("range to MaxInt64: %d %q", resp.StatusCode, got.Bytes())
	}
}

// Prune through a daemon refuses, unless forced, a keep-within shorter
// than the daemon's grace: it would remove assets that pages loaded within
// the grace still ask for.
func TestPruneRespectsTheGrace(t *testing.T) {
	_, sock, _ := daemon(t, func(l *ctl.Local) { l.Grace = 7 * 24 * time.Hour })
	c := dial(t, sock)
	ctx := context.Background()
	short := snapshot.Policy{KeepLast: 1, KeepWithin: time.Hour}
	if _, err := c.Prune(ctx, short, false, false); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "--grace 7d") {
		t.Errorf("a short keep-within: %v", err)
	}
	if _, err := c.Prune(ctx, short, true, false); err != nil {
		t.Errorf("a dry run: %v", err)
	}
	if _, err := c.Prune(ctx, short, false, true); err != nil {
		t.Errorf("forced: %v", err)
	}
	if _, err := c.Prune(ctx, snapshot.Policy{KeepWithin: 7 * 24 * time.Hour}, false, false); err != nil {
		t.Errorf("a keep-within of the grace: %v", err)
	}
}
