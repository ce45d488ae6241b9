package snapshot

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// IgnoreFile is the file at the root of an imported directory whose lines
// (gitignore syntax) name what the import leaves out.
const IgnoreFile = ".vfsignore"

// DefaultExcludes are never imported unless a pattern re-includes them:
// version-control metadata (a .git/config can hold credentials) and the
// ignore file itself.
var DefaultExcludes = []string{".git/", ".hg/", ".svn/", IgnoreFile}

// Filter decides what an import leaves out, by gitignore patterns: the
// defaults, then the import root's .vfsignore, then patterns given with
// the import (--exclude); a later pattern wins, and "!" re-includes. The
// zero Filter excludes nothing.
type Filter struct {
	m gitignore.Matcher
}

// NewFilter reads dir's .vfsignore, if any (dir "" for a tar archive),
// and adds the given patterns after it.
func NewFilter(dir string, patterns []string) (*Filter, error) {
	var ps []gitignore.Pattern
	for _, p := range DefaultExcludes {
		ps = append(ps, gitignore.ParsePattern(p, nil))
	}
	if dir != "" {
		f, err := os.Open(filepath.Join(dir, IgnoreFile))
		switch {
		case err == nil:
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if line := strings.TrimRight(sc.Text(), "\r"); line != "" && !strings.HasPrefix(line, "#") {
					ps = append(ps, gitignore.ParsePattern(line, nil))
				}
			}
			f.Close()
			if err := sc.Err(); err != nil {
				return nil, fmt.Errorf("read %s: %w", IgnoreFile, err)
			}
		case !os.IsNotExist(err):
			return nil, fmt.Errorf("read %s: %w", IgnoreFile, err)
		}
	}
	for _, p := range patterns {
		ps = append(ps, gitignore.ParsePattern(p, nil))
	}
	return &Filter{m: gitignore.NewMatcher(ps)}, nil
}

// Excluded reports whether the slash-separated path rel, below the
// import's root, is left out.
func (f *Filter) Excluded(rel string, isDir bool) bool {
	if f == nil || f.m == nil {
		return false
	}
	return f.m.Match(strings.Split(rel, "/"), isDir)
}

// secretLike reports names that usually hold secrets and are served by
// mistake: .env, .env.local, .env.production. They are imported (a site
// may mean to serve one) but warned about.
func secretLike(rel string) bool {
	name := path.Base(rel)
	return name == ".env" || strings.HasPrefix(name, ".env.")
}
