package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vfs-project/vfs/ctl"
)

// Text from etcd (reasons, an eviction's reason, a problem) reaches the
// operator's terminal quoted when it holds control characters, as
// vfsctl log quotes it: an escape sequence in etcd cannot repaint it.
func TestClusterStatusQuotesTextFromEtcd(t *testing.T) {
	evil := "release\x1b[2J\x1b[31m 42\nmember n9: ready"
	var out bytes.Buffer
	printClusterStatus(&env{stdout: &out}, ctl.ClusterStatus{Cluster: "web", Node: "n1",
		Committed: map[string]uint64{"current": 3},
		Refs:      map[string]ctl.ClusterRef{"current": {Reason: evil, Problem: evil}},
		Nodes:     map[string]ctl.ClusterMember{"n1": {Peer: "10.0.0.1:7007", Reason: evil}},
		Evicted:   map[string]ctl.Eviction{"n2": {By: "n1", Reason: evil}},
		Error:     evil})
	s := out.String()
	if strings.ContainsRune(s, '\x1b') || strings.Contains(s, "\nmember n9") {
		t.Errorf("raw control characters reached the terminal:\n%q", s)
	}
	if strings.Count(s, `"release\x1b[2J\x1b[31m 42\nmember n9: ready"`) != 5 {
		t.Errorf("each text is not quoted:\n%s", s)
	}
}

// Refs and history, as a newcomer expects them: ref list and ref rm,
// rollback --to and --steps, log -n and --reverse, and a first deploy
// that counts what it added.
func TestRefsAndHistory(t *testing.T) {
	sd := filepath.Join(t.TempDir(), "store")
	diffOut, diffErr, code := vfsctl(t, sd, "snapshot", "diff", "current", site(t, "one"))
	if code == 0 {
		t.Errorf("diff before the store exists: %s %s", diffOut, diffErr)
	}
	var ids []string
	for i, page := range []string{"one", "two", "three"} {
		out, stderr, code := vfsctl(t, sd, "deploy", site(t, page), "--reason", "release "+page)
		if code != 0 {
			t.Fatalf("deploy %s: %d %s", page, code, stderr)
		}
		if i == 0 && !strings.Contains(stderr, "2 added") {
			t.Errorf("a first deploy says: %s", stderr)
		}
		ids = append(ids, lastLine(out))
	}
	// diff against a ref not served yet: every path added.
	out, stderr, code := vfsctl(t, sd, "snapshot", "diff", "canary", site(t, "x"))
	if code != 0 || strings.Count(out, "+ ") != 2 || !strings.Contains(stderr, "no ref of that name serves anything yet") {
		t.Errorf("diff against a ref not served yet: %d %s %s", code, out, stderr)
	}
	if _, stderr, code := vfsctl(t, sd, "rollback", "--steps", "2"); code != 0 {
		t.Fatalf("rollback --steps 2: %s", stderr)
	}
	if out, _, _ := vfsctl(t, sd, "--json", "status"); !strings.Contains(out, ids[0]) {
		t.Errorf("after --steps 2: %s", out)
	}
	if _, stderr, code := vfsctl(t, sd, "rollback", "--to", ids[2][:12]); code != 0 {
		t.Fatalf("rollback --to: %s", stderr)
	}
	if _, stderr, code := vfsctl(t, sd, "rollback", "--to", "@2000-01-01T00:00:00Z"); code != 3 {
		t.Errorf("rollback --to before history: %d %s", code, stderr)
	}
	if _, stderr, code := vfsctl(t, sd, "activate", ids[1], "--ref", "preview"); code != 0 {
		t.Fatal(stderr)
	}
	out, _, _ = vfsctl(t, sd, "ref", "list")
	if !strings.Contains(out, "preview") || !strings.Contains(out, "current") || !strings.Contains(out, "rollback to "+ids[2][:12]) {
		t.Errorf("ref list:\n%s", out)
	}
	if _, stderr, code := vfsctl(t, sd, "ref", "rm", "current"); code != 6 {
		t.Errorf("ref rm current: %d %s", code, stderr)
	}
	if _, stderr, code := vfsctl(t, sd, "ref", "rm", "preview", "--reason", "merged"); code != 0 {
		t.Errorf("ref rm preview: %s", stderr)
	}
	if _, _, code := vfsctl(t, sd, "ref", "rm", "preview"); code != 3 {
		t.Errorf("ref rm of a ref that is gone: exit %d", code)
	}
	out, _, _ = vfsctl(t, sd, "log", "-n", "2", "--reverse")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "merged") || !strings.Contains(lines[1], "none") || !strings.Contains(lines[2], "preview") {
		t.Errorf("log -n 2 --reverse:\n%s", out)
	}
}
