package ctl

import (
	"errors"
	"os"
	"os/user"
	"strings"
	"testing"

	"github.com/vfs-project/vfs/store"
)

// Every endpoint is in the role table: a new one must be placed.
func TestEveryEndpointHasARole(t *testing.T) {
	for _, e := range endpoints {
		if _, ok := roles[e.Method+" "+e.Path]; !ok {
			t.Errorf("%s %s is not in the role table (access.go)", e.Method, e.Path)
		}
	}
	if len(roles) != len(endpoints) {
		t.Errorf("the role table has %d entries for %d endpoints", len(roles), len(endpoints))
	}
}

func TestParseAccess(t *testing.T) {
	bad := map[string]string{
		"user:ci":                  "line 1: too few words",
		"ci deploy staging":        `line 1: "ci" is not user:NAME`,
		"user:ci owner":            `line 1: role "owner"`,
		"user:ci deploy":           "line 1: deploy needs the refs",
		"user:ci read current":     "line 1: read takes no refs",
		"# ok\n\nuser:ci deploy [": "line 3: ref pattern",
	}
	for text, want := range bad {
		_, err := ParseAccess(strings.NewReader(text), "/etc/vfs/access", nil)
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", text, err, want)
		}
	}
	var warned []string
	a, err := ParseAccess(strings.NewReader("user:root deploy staging preview-*\ngroup:nosuchgroup-vfs read\n"), "f", func(w string) { warned = append(warned, w) })
	if err != nil || len(a.Rules) != 2 || len(warned) != 1 || !strings.Contains(warned[0], "line 2: no group nosuchgroup-vfs") {
		t.Fatalf("%+v %v %v", a, err, warned)
	}
}

func TestAccessDecides(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Skip(err)
	}
	a, err := ParseAccess(strings.NewReader("user:"+u.Username+" deploy staging preview-*\n"), "/etc/vfs/access", nil)
	if err != nil {
		t.Fatal(err)
	}
	uid := a.Rules[0].id
	find := func(method, path string) *endpoint {
		for _, e := range endpoints {
			if e.Method == method && e.Path == path {
				return e
			}
		}
		t.Fatalf("no %s %s", method, path)
		return nil
	}
	activate, gc, status := find("POST", "/v1/refs/{ref}/activate"), find("POST", "/v1/gc"), find("GET", "/v1/status")
	for _, ok := range []struct {
		e   *endpoint
		ref string
	}{{activate, "staging"}, {activate, "preview-42"}, {status, ""}, {find("POST", "/v1/imports"), ""}} {
		if err := a.check(uid, nil, u.Username, ok.e, ok.ref); err != nil {
			t.Errorf("%s %s: %v", ok.e.Path, ok.ref, err)
		}
	}
	err = a.check(uid, nil, u.Username, activate, "current")
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), `"user:`+u.Username+` deploy staging preview-*" (line 1)`) ||
		!strings.Contains(err.Error(), `"user:`+u.Username+` deploy current" would allow it`) {
		t.Errorf("activate current: %v", err)
	}
	if err := a.check(uid, nil, u.Username, gc, ""); !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "needs role admin") {
		t.Errorf("gc: %v", err)
	}
	if err := a.check(uid+1, nil, "other", status, ""); !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "no rule of /etc/vfs/access names them") {
		t.Errorf("someone without a rule: %v", err)
	}
}

// docs/examples/access is a rule file vfsd reads.
func TestExampleAccessFileParses(t *testing.T) {
	f, err := os.Open("../docs/examples/access")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := ParseAccess(f, "docs/examples/access", nil)
	if err != nil || len(a.Rules) != 3 || a.Rules[0].Role != RoleDeploy || len(a.Rules[0].Refs) != 3 {
		t.Errorf("%+v %v", a, err)
	}
}
