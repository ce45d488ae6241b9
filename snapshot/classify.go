package snapshot

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/vfs-project/vfs/store"
)

// Class is what a path of a site is to its visitors.
type Class string

const (
	// Entry: a stable URL people bookmark or other sites embed (HTML
	// pages, robots.txt, a service worker). It must come only from the
	// active snapshot.
	Entry Class = "entry"
	// Asset: a file with a content hash in its name that pages reference.
	// It stays reachable under /current for the grace window after the
	// snapshot that had it stopped being active.
	Asset Class = "asset"
)

// Classes configure classification, per store. Include patterns make paths
// assets, exclude patterns make them entries; exclude wins. Patterns are
// path.Match globs, matched against the slash-separated path without its
// leading slash and, for patterns without a slash, against the base name;
// a pattern ending in "/**" matches everything below that directory.
type Classes struct {
	Include []string `json:"include"`
	Exclude []string `json:"exclude"`
}

// MarshalJSON writes no patterns as [], not null.
func (c Classes) MarshalJSON() ([]byte, error) {
	type plain Classes
	if c.Include == nil {
		c.Include = []string{}
	}
	if c.Exclude == nil {
		c.Exclude = []string{}
	}
	return json.Marshal(plain(c))
}

// Validate checks every pattern's syntax.
func (c Classes) Validate() error {
	for _, p := range append(append([]string{}, c.Include...), c.Exclude...) {
		if _, err := path.Match(strings.TrimSuffix(p, "/**"), "x"); err != nil {
			return fmt.Errorf("pattern %q: %v: %w", p, err, store.ErrInvalid)
		}
	}
	return nil
}

// Classify says whether p (slash-separated, with or without a leading
// slash) is an asset or an entry. HTML files are always entries. Without a
// pattern deciding, a path is an asset when its name carries a content
// hash as bundlers write them (index-BxK3f9aQ.js, main.3f2a1b9c.chunk.js)
// or it lies under Next.js's _next/static/.
func (c Classes) Classify(p string) Class {
	p = strings.TrimPrefix(p, "/")
	base := path.Base(p)
	if ext := strings.ToLower(path.Ext(base)); ext == ".html" || ext == ".htm" {
		return Entry
	}
	if matchAny(c.Exclude, p) {
		return Entry
	}
	if matchAny(c.Include, p) || strings.HasPrefix(p, "_next/static/") || hasHashToken(base) {
		return Asset
	}
	return Entry
}

func matchAny(patterns []string, p string) bool {
	for _, pat := range patterns {
		if dir, ok := strings.CutSuffix(pat, "/**"); ok {
			if ok, _ := path.Match(dir, p); ok || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/") {
				return true
			}
			continue
		}
		target := p
		if !strings.Contains(pat, "/") {
			target = path.Base(p)
		}
		if ok, _ := path.Match(pat, target); ok {
			return true
		}
	}
	return false
}

// hasHashToken reports whether a file name carries a content hash the way
// bundlers write one: Vite, Rollup and esbuild end the stem with '-' and 8
// base64url characters (index-BxK3f9aQ.js, index-VjARLu6_.js); webpack and
// others put a hex hash between dots (main.3f2a1b9c.chunk.js). A hash has a
// digit or upper-case letters past its first character: a base64 hash has
// no digit about one time in four (lazy-BjotiwhX.js), so in Vite's position
// one inner capital is enough; elsewhere it takes two.
func hasHashToken(base string) bool {
	stem := strings.TrimSuffix(base, path.Ext(base))
	if n := len(stem); n >= 10 && (stem[n-9] == '-' || stem[n-9] == '.') && looksHashed(stem[n-8:], true, 1) {
		return true
	}
	for _, tok := range strings.FieldsFunc(stem, func(r rune) bool { return r == '-' || r == '.' }) {
		if len(tok) >= 8 && looksHashed(tok, false, 2) {
			return true
		}
	}
	return false
}

// looksHashed: letters and digits (and, in base64url, '-' and '_') with a
// digit, a '-' or '_', or at least minUpper upper-case letters past the first
// character.
func looksHashed(tok string, base64url bool, minUpper int) bool {
	marks, innerUpper := 0, 0
	for i, r := range tok {
		switch {
		case r >= '0' && r <= '9':
			marks++
		case r >= 'A' && r <= 'Z':
			if i > 0 {
				innerUpper++
			}
		case r >= 'a' && r <= 'z':
		case base64url && (r == '-' || r == '_'):
			marks++
		default:
			return false
		}
	}
	return marks > 0 || innerUpper >= minUpper
}
