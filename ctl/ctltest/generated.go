package ctltest

import (
	"os"
	"strings"
	"testing"
)

// CheckGenerated checks that the part of the file at path between the
// lines begin and end is text (what the code generates now); with
// VFS_UPDATE_DOCS=1 it rewrites that part instead. docs/api.md and
// docs/cli.md keep their references this way.
func CheckGenerated(t *testing.T, path, begin, end, text string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the markers of its generated part", path)
	}
	want := doc[:i+len(begin)] + "\n" + text + "\n" + doc[j:]
	if want == doc {
		return
	}
	if os.Getenv("VFS_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is out of date: run VFS_UPDATE_DOCS=1 go test on the package of %s", path, t.Name())
}
