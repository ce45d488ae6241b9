package store

import (
	"math/rand"
	"testing"
)

// takenRuns agrees with a plain set of taken mtimes, whatever the order of
// additions.
func TestTakenRuns(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 200; round++ {
		runs := takenRuns{}
		set := map[int64]bool{}
		for k := 0; k < 20; k++ {
			lo := rng.Int63n(60)
			hi := lo + rng.Int63n(4)
			runs.add(7, lo, hi)
			for m := lo; m <= hi; m++ {
				set[m] = true
			}
		}
		rs := runs[7]
		for i := 1; i < len(rs); i++ {
			if rs[i].lo <= rs[i-1].hi+1 {
				t.Fatalf("runs %v overlap or touch", rs)
			}
		}
		for m := int64(0); m < 70; m++ {
			want := m
			for set[want] {
				want++
			}
			if got := runs.skip(7, m); got != want {
				t.Fatalf("skip(%d) = %d, want %d; runs %v", m, got, want, rs)
			}
		}
		if got := runs.skip(8, 5); got != 5 {
			t.Fatalf("another size: skip(5) = %d", got)
		}
	}
}
