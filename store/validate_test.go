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
		err := CheckSnapshot(m, c.root(m))
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
