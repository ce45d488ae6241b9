package snapshot

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFilter(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, IgnoreFile), []byte("# drafts stay home\ndrafts/\n*.map\n!keep.map\n"), 0o644)
	f, err := NewFilter(dir, []string{"secret.txt"})
	if err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]bool{
		".git": true, ".git/config": true, "sub/.git/config": true, ".hg": true, ".svn/entries": true,
		".vfsignore": true, "drafts": true, "drafts/a.html": true, "app.js.map": true, "keep.map": false,
		"secret.txt": true, "index.html": false, ".well-known/security.txt": false, ".htaccess": false,
		".env": false, ".gitignore": false,
	} {
		isDir := rel == ".git" || rel == ".hg" || rel == "drafts"
		if got := f.Excluded(rel, isDir); got != want {
			t.Errorf("%s: excluded %v, want %v", rel, got, want)
		}
	}
	if !secretLike(".env") || !secretLike("config/.env.production") || secretLike("env.js") {
		t.Error("secretLike")
	}
}
