package store

import "sort"

// takenRuns are, per content size, runs of mtimes an import knows are
// given: by itself, or found in the index by a search. A search for a free
// validator starts after them instead of walking the index across them
// again. In a tree whose files share a few sizes and were written within a
// few seconds (a generated site, an npm tree), every source second starts
// a search inside the run the one before it filled: walking it again each
// time was a fifth of importing a million such files.
//
// It is only a hint: a validator in a run may be free again (GC), which
// costs a later mtime, never a shared one; the index and the reservations
// (imports.validator) decide.
type takenRuns map[int64][]run

// run is mtimes lo through hi; the runs of a size are sorted, disjoint and
// never adjacent.
type run struct{ lo, hi int64 }

// skip returns the first mtime from m on that no run holds.
func (t takenRuns) skip(size, m int64) int64 {
	rs := t[size]
	i := sort.Search(len(rs), func(i int) bool { return rs[i].hi >= m })
	if i < len(rs) && rs[i].lo <= m {
		return rs[i].hi + 1
	}
	return m
}

// add records lo through hi as given, merging the runs it touches.
func (t takenRuns) add(size, lo, hi int64) {
	rs := t[size]
	i := sort.Search(len(rs), func(i int) bool { return rs[i].hi >= lo-1 })
	j := i
	for j < len(rs) && rs[j].lo <= hi+1 {
		lo, hi = min(lo, rs[j].lo), max(hi, rs[j].hi)
		j++
	}
	if i == j {
		rs = append(rs, run{})
		copy(rs[i+1:], rs[i:])
	} else {
		rs = append(rs[:i+1], rs[j:]...)
	}
	rs[i] = run{lo, hi}
	t[size] = rs
}
