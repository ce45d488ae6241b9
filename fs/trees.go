package fs

import (
	"context"

	"github.com/maypok86/otter/v2"
	"github.com/vfs-project/vfs/store"
)

// A decoded tree costs about 90 bytes an entry, and the kernel keeps every
// directory it walked: with one decoded tree per directory node, a walk of
// a million files kept 92 MB of trees (docs/benchmarks.md). Trees are
// therefore shared by hash in one cache bounded by weight (an estimate of
// their bytes), not owned by the directories that show them.

// DefaultTreeCacheBytes bounds the decoded trees kept when Config leaves
// it at 0: about 350,000 entries.
const DefaultTreeCacheBytes = 32 << 20

// entryWeight estimates what one decoded entry costs beyond its strings:
// the Entry struct, its slice slot, and the strings' headers.
const entryWeight = 96

// treeWeight estimates a decoded tree's bytes.
func treeWeight(_ store.Ref, t *store.Tree) uint32 {
	w := 64
	for _, e := range t.Entries {
		w += entryWeight + len(e.Name) + len(e.Target)
	}
	return uint32(min(w, 1<<31))
}

// treeCache holds decoded, verified trees by hash. Safe for concurrent use;
// lookups racing on a cold tree read it once (otter's Get waits for the
// load already in flight).
type treeCache struct {
	src   Source
	cache *otter.Cache[store.Ref, *store.Tree]
}

func newTreeCache(src Source, maxBytes int) *treeCache {
	if maxBytes <= 0 {
		maxBytes = DefaultTreeCacheBytes
	}
	c := otter.Must(&otter.Options[store.Ref, *store.Tree]{
		MaximumWeight: uint64(maxBytes),
		Weigher:       treeWeight,
	})
	return &treeCache{src: src, cache: c}
}

// get returns the tree ref names, read from the source on a miss. A tree
// heavier than the whole cache is read but not kept.
func (c *treeCache) get(ref store.Ref) (*store.Tree, error) {
	if t, ok := c.cache.GetIfPresent(ref); ok {
		return t, nil // no loader closure on the hot path (every Lookup)
	}
	return c.cache.Get(context.Background(), ref, otter.LoaderFunc[store.Ref, *store.Tree](
		func(context.Context, store.Ref) (*store.Tree, error) { return c.src.Tree(ref) }))
}

// weight returns the estimated bytes held.
func (c *treeCache) weight() uint64 { return c.cache.WeightedSize() }
