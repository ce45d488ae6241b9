package store

import (
	"errors"
	"strings"
	"testing"
)

// mapTrees is a TreeReader over trees built in memory.
type mapTrees map[Ref]*Tree

func (m mapTrees) Tree(r Ref) (*Tree, error) {
	if t, ok := m[r]; ok {
		return t, nil
	}
	return nil, ErrNotFound
}

func (m mapTrees) put(entries ...Entry) Ref {
	t := &Tree{Entries: entries}
	data, err := EncodeTree(t)
	if err != nil {
		panic(err)
	}
	r := Sum(data)
	m[r] = t
	return r
}

func sym(name, target string) Entry { return Entry{Name: name, Kind: KindSymlink, Target: target} }
func dir(name string, r Ref) Entry  { return Entry{Name: name, Kind: KindDir, Mode: 0o755, Ref: r} }
func file(name string) Entry {
	return Entry{Name: name, Kind: KindFile, Mode: 0o644, Ref: Sum([]byte(name)), Size: 1}
}

func TestCheckSnapshot(t *testing.T) {
	deep := func(m mapTrees, levels int) Ref {
		r := m.put(file("f"))
		for i := 0; i < levels; i++ {
			r = m.put(dir("d", r))
		}
		return r
	}
	cases := []struct {
		name string
		ok   bool
		root func(m mapTrees) Ref
	}{
		{"plain", true, func(m mapTrees) Ref { return m.put(file("a"), dir("d", m.put(file("b")))) }},
		{"relative links inside", true, func(m mapTrees) Ref {
			return m.put(file("a"), sym("l", "a"), dir("d", m.put(sym("up", "../a"), sym("self", "./../d/up"))))
		}},
		{"link through a file stops there", true, func(m mapTrees) Ref { return m.put(file("a"), sym("l", "a/../../../x")) }},
		{"link into a missing directory", true, func(m mapTrees) Ref { return m.put(sym("l", "gone/../a")) }},
		{"absolute", false, func(m mapTrees) Ref { return m.put(sym("l", "/etc/passwd")) }},
		{"climbs out", false, func(m mapTrees) Ref { return m.put(sym("l", "../x")) }},
		{"climbs out from below", false, func(m mapTrees) Ref { return m.put(dir("d", m.put(sym("l", "../../x")))) }},
		{"climbs out through a missing directory", false, func(m mapTrees) Ref { return m.put(sym("l", "gone/../../x")) }},
		{"escapes through another link", false, func(m mapTrees) Ref {
			return m.put(dir("d", m.put(dir("e", m.put(sym("up", "../.."))))), sym("leak", "d/e/up/../etc"))
		}},
		{"loop", false, func(m mapTrees) Ref { return m.put(sym("a", "b"), sym("b", "a")) }},
		{"self loop", false, func(m mapTrees) Ref { return m.put(sym("a", "a/x")) }},
		{"deep but allowed", true, func(m mapTrees) Ref { return deep(m, MaxDepth-1) }},
		{"too deep", false, func(m mapTrees) Ref { return deep(m, MaxDepth) }},
		{"path too long", false, func(m mapTrees) Ref {
			r := m.put(file("f"))
			for i := 0; i < 20; i++ {
				r = m.put(dir(strings.Repeat("n", 200), r))
			}
			return r
		}},
		{"unsorted tree", false, func(m mapTrees) Ref {
			r := m.put(file("a"), file("b"))
			m[r].Entries[0], m[r].Entries[1] = m[r].Entries[1], m[r].Entries[0]
			return r
		}},
	}
	for _, c := range cases {
		m := mapTrees{}
		_, err := CheckSnapshot(m, c.root(m))
		if c.ok && err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
		}
		if !c.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", c.name, err)
		}
	}
}

func TestCheckNameAndLabel(t *testing.T) {
	for _, n := range []string{"index.html", ".well-known", ".htaccess", "a b", "ünïcode", strings.Repeat("x", 255)} {
		if err := CheckName(n); err != nil {
			t.Errorf("name %q refused: %v", n, err)
		}
	}
	for _, n := range []string{"", ".", "..", "a/b", "a\x00b", "caf\xe9", strings.Repeat("x", 256)} {
		if err := CheckName(n); !errors.Is(err, ErrInvalid) {
			t.Errorf("name %q: %v, want ErrInvalid", n, err)
		}
	}
	for _, l := range []string{"v42", "release-2026.11", "canary", "ünïcode"} {
		if err := CheckLabel(l); err != nil {
			t.Errorf("label %q refused: %v", l, err)
		}
	}
	for _, l := range []string{"@x", "-rf", "two words", "tab\t", "new\nline", "a/b", ""} {
		if err := CheckLabel(l); !errors.Is(err, ErrInvalid) {
			t.Errorf("label %q: %v, want ErrInvalid", l, err)
		}
	}
}

// countingTrees counts reads and gives up after a bound, so that a check
// that walks paths instead of trees fails here instead of spinning.
type countingTrees struct {
	mapTrees
	reads int
}

var errTooManyReads = errors.New("too many tree reads")

func (c *countingTrees) Tree(r Ref) (*Tree, error) {
	if c.reads++; c.reads > 10000 {
		return nil, errTooManyReads
	}
	return c.mapTrees.Tree(r)
}

// The check costs the distinct trees, not the paths: a DAG of 40 trees
// with 2^40 paths and a chain of 80,000 directories are refused after a
// few hundred reads, and a DAG of 2^10 paths with links in it is taken,
// counted over all its paths.
func TestCheckSnapshotIsLinear(t *testing.T) {
	dag := func(m mapTrees, n int, leaf ...Entry) Ref {
		r := m.put(leaf...)
		for i := 0; i < n; i++ {
			r = m.put(dir("a", r), dir("b", r))
		}
		return r
	}
	m := &countingTrees{mapTrees: mapTrees{}}
	if _, err := CheckSnapshot(m, dag(m.mapTrees, 40, file("f"))); !errors.Is(err, ErrInvalid) || m.reads > 400 {
		t.Errorf("2^40 paths: %v after %d reads", err, m.reads)
	}
	m = &countingTrees{mapTrees: mapTrees{}}
	r := m.put(file("f"))
	for i := 0; i < 80000; i++ {
		r = m.put(dir("d", r))
	}
	if _, err := CheckSnapshot(m, r); !errors.Is(err, ErrInvalid) || m.reads > 400 {
		t.Errorf("a chain of 80,000: %v after %d reads", err, m.reads)
	}
	m = &countingTrees{mapTrees: mapTrees{}}
	root := dag(m.mapTrees, 10, file("f"), sym("l", "f"))
	sum, err := CheckSnapshot(m, root)
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{Files: 1 << 10, Symlinks: 1 << 10, Dirs: 1<<11 - 1, Bytes: 1 << 10}
	if sum != want {
		t.Errorf("counts %+v, want %+v", sum, want)
	}
}

// FuzzCheckSnapshot: any tree encoding, checked as a snapshot of itself
// and as the leaf of a DAG, is taken or refused as invalid, never panics,
// and its counts agree with a walk of its paths.
func FuzzCheckSnapshot(f *testing.F) {
	for _, entries := range [][]Entry{
		{file("a"), sym("l", "a")},
		{sym("l", "../x")},
		{sym("a", "b"), sym("b", "a")},
		{file("z"), file("a")},
	} {
		t := &Tree{Entries: entries}
		data, _ := EncodeTree(t)
		f.Add(data, uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, levels uint8) {
		leaf, err := DecodeTree(data)
		if err != nil {
			return
		}
		m := mapTrees{}
		r := Sum(data) // not put: a decoded tree may break rules put's encoding checks
		m[r] = leaf
		for i := 0; i < int(levels%12); i++ {
			r = m.put(dir("a", r), dir("b", r))
		}
		sum, err := CheckSnapshot(m, r)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNotFound) {
				t.Fatalf("neither invalid nor not found: %v", err)
			}
			return
		}
		var walked Summary
		walked.Dirs = 1
		Walk(m, r, func(_ string, e Entry) error {
			switch e.Kind {
			case KindDir:
				walked.Dirs++
			case KindSymlink:
				walked.Symlinks++
			default:
				walked.Files++
				walked.Bytes = sat(walked.Bytes, e.Size)
			}
			return nil
		}, nil)
		if walked != sum {
			t.Fatalf("counts %+v, a walk says %+v", sum, walked)
		}
	})
}
