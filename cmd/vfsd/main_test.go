package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// The default memory limit follows --max-nodes, and an explicit one wins.
func TestMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int64
	}{
		{nil, 64<<20 + 100000<<10},
		{[]string{"--max-nodes", "1000000"}, 64<<20 + 1000000<<10},
		{[]string{"--max-nodes", "0"}, 0},
		{[]string{"--memory-limit", "300"}, 300 << 20},
		{[]string{"--memory-limit", "0"}, 0},
	} {
		c, err := parseFlags(append([]string{"--mount", "/m"}, tc.args...))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.memoryLimitBytes(); got != tc.want {
			t.Errorf("%v: limit %d, want %d", tc.args, got, tc.want)
		}
	}
}

// Every flag is in the operations guide's table and in the CLI
// reference's synopsis, which are written by hand.
func TestFlagsAreDocumented(t *testing.T) {
	ops, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	// The synopsis runs from "`vfsd " to the next backquote.
	_, synopsis, _ := strings.Cut(string(cli), "`vfsd ")
	synopsis, _, _ = strings.Cut(synopsis, "`")
	synopsis = strings.ReplaceAll(synopsis, "\n", " ")
	fs := pflag.NewFlagSet("vfsd", pflag.ContinueOnError)
	defineFlags(fs, &config{})
	fs.VisitAll(func(f *pflag.Flag) {
		name := "--" + f.Name
		if f.Name != "version" && !strings.Contains(string(ops), "`"+name) {
			t.Errorf("docs/operations.md has no row for %s", name)
		}
		if !strings.Contains(synopsis, name+" ") && !strings.Contains(synopsis, name+"]") {
			t.Errorf("docs/cli.md's vfsd synopsis lacks %s", name)
		}
	})
}

// Missing parents are made 0755 and the store 0700; a parent that keeps
// the web server's user out is found.
func TestMkdirsAndReach(t *testing.T) {
	base := t.TempDir()
	os.Chmod(base, 0o755)
	store := filepath.Join(base, "srv", "vfs", "store")
	mnt := filepath.Join(base, "srv", "vfs", "mnt")
	if top, err := mkdirs(store, 0o700); err != nil || top != filepath.Join(base, "srv") {
		t.Fatalf("mkdirs: %q %v", top, err)
	}
	if _, err := mkdirs(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{filepath.Join(base, "srv"): 0o755, filepath.Join(base, "srv", "vfs"): 0o755, store: 0o700, mnt: 0o755} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %04o", p, fi.Mode().Perm(), err, want)
		}
	}
	nobody, ok := webUser("nobody")
	if !ok {
		t.Skip("no user nobody")
	}
	for p := filepath.Dir(base); p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		os.Chmod(p, 0o755) // t.TempDir's parents may be 0700; /tmp itself stays 1777
	}
	if err := reachable(mnt, nobody); err != nil {
		t.Errorf("nobody cannot reach a mount below 0755 directories: %v", err)
	}
	os.Chmod(filepath.Join(base, "srv", "vfs"), 0o700)
	if err := reachable(mnt, nobody); err == nil || !strings.Contains(err.Error(), "srv/vfs") {
		t.Errorf("a 0700 parent: %v", err)
	}
}
