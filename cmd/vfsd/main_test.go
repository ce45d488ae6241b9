package main

import (
	"os"
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
