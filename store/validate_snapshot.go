package store

import (
	"errors"
	"fmt"
	"strings"
)

// Limits on a snapshot as a whole. Directories that are identical are
// stored once, so a few trees can name each other into a snapshot of
// 2^40 paths; every path counts against these.
const (
	// MaxEntries bounds the entries of a snapshot over all its paths: a
	// million-file site is 1/64 of it.
	MaxEntries = 1 << 26
	// MaxLinks bounds its symlinks over all their paths, each of which
	// is resolved at commit.
	MaxLinks = 1 << 20
)

// A Summary counts a snapshot's entries over all its paths, as the mount,
// export and diff show them: regular files, directories (the root
// included), symlinks, and the bytes of the files.
type Summary struct {
	Files, Dirs, Symlinks, Bytes uint64
}

// CheckSnapshot checks the whole tree below root before it may become a
// snapshot, and returns its counts: every directory passes CheckTree, every
// path fits MaxPathLen and MaxDepth, the whole fits MaxEntries and
// MaxLinks, and every symlink, resolved from its own directory through the
// snapshot's own symlinks (as the kernel would resolve it through the
// mount), stays inside the snapshot. A lexical check of each link alone is
// not enough: links that each stay inside can escape together.
//
// Its cost is linear in the distinct trees below root, not in the paths:
// what each tree was found to be is remembered by its hash, so neither a
// DAG of trees naming each other twice (2^N paths from N trees) nor a
// chain of directories (whose paths grow with their depth) costs more
// than its bytes. Only the symlinks are followed per path, at most
// MaxLinks of them.
//
// A name that the snapshot lacks is taken to be a directory: under /current
// an older snapshot may supply it (asset carry-over supplies directories and
// regular files, never symlinks), and assuming a directory is the most
// permissive case for a ".." that follows.
func CheckSnapshot(r TreeReader, root Ref) (Summary, error) {
	return checkSnapshot(r, root, nil)
}

// checkSnapshot is CheckSnapshot, telling onFile (if set) of every file
// entry of every distinct tree.
func checkSnapshot(r TreeReader, root Ref, onFile func(Entry)) (Summary, error) {
	c := &checker{r: r, dirs: map[string]*Tree{}, facts: map[Ref]*treeFacts{}, onFile: onFile}
	f, err := c.check(root, 0)
	if err != nil {
		return Summary{}, err
	}
	switch {
	case f.depth > MaxDepth || f.pathLen > MaxPathLen:
		return Summary{}, fmt.Errorf("%.80s...: path of %d bytes and %d levels, at most %d and %d: %w",
			c.example(root), f.pathLen, f.depth, MaxPathLen, MaxDepth, ErrInvalid)
	case f.entries() > MaxEntries:
		return Summary{}, fmt.Errorf("%d entries over all paths, at most %d: %w", f.entries(), uint64(MaxEntries), ErrInvalid)
	case f.links > MaxLinks:
		return Summary{}, fmt.Errorf("%d symlinks over all paths, at most %d: %w", f.links, uint64(MaxLinks), ErrInvalid)
	}
	if f.links > 0 {
		c.dirs[""], _ = r.Tree(root)
		if err := c.collectLinks("", root); err != nil {
			return Summary{}, err
		}
	}
	for _, l := range c.links {
		hops := 0
		if _, err := c.resolve(l.dir, l.target, &hops); err != nil && err != errDeadEnd {
			return Summary{}, fmt.Errorf("%s: symlink to %q: %w", l.path, l.target, err)
		}
	}
	return Summary{Files: f.files, Dirs: f.dirs + 1, Symlinks: f.links, Bytes: f.bytes}, nil
}

type checker struct {
	r     TreeReader
	links []link
	// dirs caches trees by path during resolution: a snapshot with many
	// links into one directory reads it once.
	dirs map[string]*Tree
	// facts are what each distinct tree was found to be.
	facts map[Ref]*treeFacts
	// onFile, if set, hears of every file entry (a commit's: privacy,
	// variants).
	onFile func(Entry)
}

// treeFacts describe the entries below one tree, over all their paths.
// Counts saturate rather than wrap: past the limits, any figure refuses.
type treeFacts struct {
	depth                     int // levels of entries: 0 for an empty tree
	pathLen                   int // bytes of its longest entry path, relative
	files, dirs, links, bytes uint64
}

func (f *treeFacts) entries() uint64 { return sat(sat(f.files, f.dirs), f.links) }

// sat adds without wrapping.
func sat(a, b uint64) uint64 {
	if a+b < a {
		return ^uint64(0)
	}
	return a + b
}

type link struct {
	path   string
	dir    []string // the components of the directory holding the link
	target string
}

// check returns the facts of the tree ref, reached depth levels below the
// root, reading and checking each distinct tree once. A chain deeper than
// MaxDepth is refused on the way down, not after it.
func (c *checker) check(ref Ref, depth int) (*treeFacts, error) {
	if f, ok := c.facts[ref]; ok {
		return f, nil
	}
	if depth > MaxDepth {
		return nil, fmt.Errorf("directories nested more than %d levels: %w", MaxDepth, ErrInvalid)
	}
	t, err := c.r.Tree(ref)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", ref.Short(), err)
	}
	if err := CheckTree(t); err != nil {
		return nil, fmt.Errorf("tree %s: %w", ref.Short(), err)
	}
	f := &treeFacts{}
	for _, e := range t.Entries {
		levels, pathLen := 1, len(e.Name)
		switch e.Kind {
		case KindDir:
			sub, err := c.check(e.Ref, depth+1)
			if err != nil {
				return nil, err
			}
			if sub.depth > 0 {
				levels, pathLen = 1+sub.depth, pathLen+1+sub.pathLen
			}
			f.dirs = sat(f.dirs, sat(1, sub.dirs))
			f.files = sat(f.files, sub.files)
			f.links = sat(f.links, sub.links)
			f.bytes = sat(f.bytes, sub.bytes)
		case KindSymlink:
			f.links = sat(f.links, 1)
		default:
			f.files = sat(f.files, 1)
			f.bytes = sat(f.bytes, e.Size)
			if c.onFile != nil {
				c.onFile(e)
			}
		}
		f.depth, f.pathLen = max(f.depth, levels), max(f.pathLen, pathLen)
	}
	c.facts[ref] = f
	return f, nil
}

// example names a longest or deepest path below ref, for an error.
func (c *checker) example(ref Ref) string {
	var b strings.Builder
	for range MaxDepth + 1 {
		t, err := c.r.Tree(ref)
		f := c.facts[ref]
		if err != nil || f == nil {
			break
		}
		var next *Entry
		for i, e := range t.Entries {
			if sub := c.facts[e.Ref]; e.Kind == KindDir && sub != nil && 1+sub.depth == f.depth {
				next = &t.Entries[i]
				break
			}
		}
		if next == nil {
			break
		}
		b.WriteString("/" + next.Name)
		ref = next.Ref
	}
	return strings.TrimPrefix(b.String(), "/")
}

// collectLinks lists every symlink below the tree ref at path, descending
// only into trees that hold some.
func (c *checker) collectLinks(path string, ref Ref) error {
	t, err := c.r.Tree(ref)
	if err != nil {
		return err
	}
	for _, e := range t.Entries {
		p := path + "/" + e.Name
		switch e.Kind {
		case KindDir:
			if c.facts[e.Ref].links > 0 {
				if err := c.collectLinks(p, e.Ref); err != nil {
					return err
				}
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
