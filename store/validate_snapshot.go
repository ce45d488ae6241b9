package store

import (
	"errors"
	"fmt"
	"strings"
)

// CheckSnapshot checks the whole tree below root before it may become a
// snapshot: every directory passes CheckTree, every path fits MaxPathLen and
// MaxDepth, and every symlink, resolved from its own directory through the
// snapshot's own symlinks (as the kernel would resolve it through the
// mount), stays inside the snapshot. A lexical check of each link alone is
// not enough: links that each stay inside can escape together.
//
// A name that the snapshot lacks is taken to be a directory: under /current
// an older snapshot may supply it (asset carry-over supplies directories and
// regular files, never symlinks), and assuming a directory is the most
// permissive case for a ".." that follows.
func CheckSnapshot(r TreeReader, root Ref) error {
	c := &checker{r: r, dirs: map[string]*Tree{}}
	if err := c.dir("", 0, root); err != nil {
		return err
	}
	for _, l := range c.links {
		hops := 0
		if _, err := c.resolve(l.dir, l.target, &hops); err != nil && err != errDeadEnd {
			return fmt.Errorf("%s: symlink to %q: %w", l.path, l.target, err)
		}
	}
	return nil
}

type checker struct {
	r     TreeReader
	links []link
	// dirs caches trees by path during resolution: a snapshot with many
	// links into one directory reads it once.
	dirs map[string]*Tree
}

type link struct {
	path   string
	dir    []string // the components of the directory holding the link
	target string
}

func (c *checker) dir(path string, depth int, ref Ref) error {
	t, err := c.r.Tree(ref)
	if err != nil {
		return fmt.Errorf("%s/: %w", path, err)
	}
	if err := CheckTree(t); err != nil {
		return fmt.Errorf("%s/: %w", path, err)
	}
	if depth == 0 {
		c.dirs[""] = t
	}
	for _, e := range t.Entries {
		p := path + "/" + e.Name
		if len(p)-1 > MaxPathLen || depth+1 > MaxDepth {
			return fmt.Errorf("%.80s...: path of %d bytes and %d levels, at most %d and %d: %w",
				p, len(p)-1, depth+1, MaxPathLen, MaxDepth, ErrInvalid)
		}
		switch e.Kind {
		case KindDir:
			if err := c.dir(p, depth+1, e.Ref); err != nil {
				return err
			}
		case KindSymlink:
			c.links = append(c.links, link{path: p[1:], dir: components(path), target: e.Target})
		}
	}
	return nil
}

func components(path string) []string {
	if path == "" {
		return nil
	}
	return strings.Split(strings.TrimPrefix(path, "/"), "/")
}

// errDeadEnd: the resolution met a file before its last component, where
// the kernel stops with ENOTDIR, so nothing beyond it can escape.
var errDeadEnd = errors.New("not a directory")

// resolve follows target from directory dir and returns where it leads.
// It fails when the resolution climbs above the snapshot's root or passes
// more than maxHops links, and returns errDeadEnd at a file mid-path.
func (c *checker) resolve(dir []string, target string, hops *int) ([]string, error) {
	cur := append([]string(nil), dir...)
	parts := strings.Split(target, "/")
	for i, name := range parts {
		switch name {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return nil, fmt.Errorf("leaves the snapshot: %w", ErrInvalid)
			}
			cur = cur[:len(cur)-1]
			continue
		}
		e, found, err := c.lookup(cur, name)
		if err != nil {
			return nil, err
		}
		switch {
		case !found || e.Kind == KindDir:
			cur = append(cur, name)
		case e.Kind == KindSymlink:
			if *hops++; *hops > maxHops {
				return nil, fmt.Errorf("more than %d symlinks in a row (a loop?): %w", maxHops, ErrInvalid)
			}
			if cur, err = c.resolve(cur, e.Target, hops); err != nil {
				return nil, err
			}
		case i < len(parts)-1:
			return nil, errDeadEnd
		default:
			cur = append(cur, name)
		}
	}
	return cur, nil
}

// lookup finds name in the directory at components dir; found is false when
// that directory or the name does not exist in the snapshot.
func (c *checker) lookup(dir []string, name string) (Entry, bool, error) {
	t, err := c.tree(dir)
	if t == nil || err != nil {
		return Entry{}, false, err
	}
	e, ok := t.Lookup(name)
	return e, ok, nil
}

func (c *checker) tree(dir []string) (*Tree, error) {
	key := strings.Join(dir, "/")
	if t, ok := c.dirs[key]; ok {
		return t, nil
	}
	parent, err := c.tree(dir[:len(dir)-1])
	if parent == nil || err != nil {
		return nil, err
	}
	var t *Tree
	if e, ok := parent.Lookup(dir[len(dir)-1]); ok && e.Kind == KindDir {
		if t, err = c.r.Tree(e.Ref); err != nil {
			return nil, err
		}
	}
	c.dirs[key] = t
	return t, nil
}
