package snapshot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vfs-project/vfs/store"
)

// Source is another node's store, read by hash (ctl.Client on a peer
// listener). It checks what it hands over: a tree's encoding and a chunk's
// bytes against their hashes. File records cannot be checked alone; the
// target checks them against their chunks at commit.
type Source interface {
	Snapshot(id store.Ref) (store.SnapshotInfo, error)
	FetchTrees(ctx context.Context, refs []store.Ref, fn func(ref store.Ref, t *store.Tree) error) error
	FetchFiles(ctx context.Context, refs []store.Ref, fn func(f *store.FileRecord) error) error
	FetchChunks(ctx context.Context, refs []store.Ref, fn func(ref store.Ref, data []byte) error) error
}

// SignatureSource is a Source that also gives a snapshot's signatures
// (ctl.Client on a peer listener); SignatureSink a Target that attaches
// them, checking each first (a bad one is not attached). A pull between
// both copies a snapshot's signatures with it.
type (
	SignatureSource interface {
		SignatureBlobs(ctx context.Context, id store.Ref) ([][]byte, error)
	}
	SignatureSink interface {
		AttachSignature(ctx context.Context, id store.Ref, sig []byte) error
	}
)

// VariantSource is a Source that also gives contents' variants (.br,
// .gz); VariantSink a Batch that files them (a *store.Writer checks each
// at commit by decompressing it). A pull between both copies the variants
// with the contents, so that every node serves the same bytes with the
// same validators and none compresses a content again. A source too old
// to keep variants answers errors.ErrUnsupported; the target's commit
// then makes them itself.
type (
	VariantSource interface {
		FetchVariants(ctx context.Context, contents []store.Ref, fn func(content store.Ref, vs []store.VariantRecord) error) error
	}
	VariantSink interface {
		PutVariant(content store.Ref, enc store.Encoding, rec *store.FileRecord) error
	}
)

// ChunkWanter is a Batch that can say which chunks its store lacks, so that
// a pull fetches only those (vfsd's import does; so does a Writer).
type ChunkWanter interface {
	WantChunks(refs []store.Ref) ([]store.Ref, error)
}

// pullBatch bounds the objects one fetch asks for.
const pullBatch = 1024

// PullStats count a pull's work.
type PullStats struct {
	Trees        int64 `json:"trees"`
	TreesHad     int64 `json:"trees_had"` // subtrees the target held whole: not fetched, nor anything below them
	Files        int64 `json:"files"`
	Chunks       int64 `json:"chunks"`        // fetched
	ChunksHad    int64 `json:"chunks_had"`    // already in the target
	BytesFetched int64 `json:"bytes_fetched"` // chunk bytes fetched
	Variants     int64 `json:"variants"`      // variants copied (.br, .gz)
	Signatures   int64 `json:"signatures"`    // signatures copied
	// SignaturesRefused counts signatures the target refused (not a
	// signature of the snapshot); the pull stands without them.
	SignaturesRefused int64         `json:"signatures_refused"`
	Elapsed           time.Duration `json:"-"`
}

// Pull copies snapshot id from src into dst: its trees and file records,
// and the chunks dst lacks, each checked on arrival, then commits the
// snapshot with src's record (labels aside: they name snapshots on their
// own node). dst must check file records against their chunks: vfsd's
// import does, and a *store.Store does through store.Verifying. progress,
// if set, is called after each batch.
// TreeHaver is a Target that knows some trees it holds whole, with every
// object below them: the trees of the snapshots it serves (an activation
// checked them complete). Pull fetches neither those nor what is below
// them: a release that changes one file fetches the trees on its path,
// not a million file records.
type TreeHaver interface {
	HasTreeWhole(ref store.Ref) bool
}

func Pull(ctx context.Context, src Source, dst Target, id store.Ref, progress func(PullStats)) (store.SnapshotInfo, PullStats, error) {
	start := time.Now()
	var st PullStats
	info, err := src.Snapshot(id)
	if err != nil {
		return info, st, fmt.Errorf("pull %s: %w", id.Short(), err)
	}
	w, err := dst.Begin()
	if err != nil {
		return info, st, fmt.Errorf("pull %s: %w", id.Short(), err)
	}
	haver, _ := dst.(TreeHaver)
	out, err := pull(ctx, src, w, haver, info, &st, progress)
	if err != nil {
		st.Elapsed = time.Since(start)
		w.Abort()
		return out, st, fmt.Errorf("pull %s: %w", id.Short(), err)
	}
	err = copySignatures(ctx, src, dst, id, &st)
	st.Elapsed = time.Since(start)
	return out, st, err
}

// copySignatures copies snapshot id's signatures from src to dst, when
// both can. A source that has no signatures endpoint (an older vfsd)
// gives none.
func copySignatures(ctx context.Context, src Source, dst Target, id store.Ref, st *PullStats) error {
	from, ok := src.(SignatureSource)
	to, ok2 := dst.(SignatureSink)
	if !ok || !ok2 {
		return nil
	}
	sigs, err := from.SignatureBlobs(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pull %s: signatures: %w", id.Short(), err)
	}
	for _, sig := range sigs {
		if err := to.AttachSignature(ctx, id, sig); err != nil {
			if errors.Is(err, store.ErrInvalid) {
				st.SignaturesRefused++
				continue
			}
			return fmt.Errorf("pull %s: signature: %w", id.Short(), err)
		}
		st.Signatures++
	}
	return nil
}

func pull(ctx context.Context, src Source, w store.Batch, haver TreeHaver, info store.SnapshotInfo, st *PullStats, progress func(PullStats)) (store.SnapshotInfo, error) {
	report := func() {
		if progress != nil {
			progress(*st)
		}
	}
	// Trees, breadth first, a batch of a level at a time; each is
	// stored as it arrives (the target checks it).
	seenTrees := map[store.Ref]bool{info.ID: true}
	seenFiles := map[store.Ref]bool{}
	level := []store.Ref{info.ID}
	var files []store.Ref
	sizes := map[store.Ref]uint64{} // of the files, from the trees
	for len(level) > 0 {
		var next []store.Ref
		for i := 0; i < len(level); i += pullBatch {
			part := level[i:min(i+pullBatch, len(level))]
			err := src.FetchTrees(ctx, part, func(ref store.Ref, t *store.Tree) error {
				got, err := w.PutTree(t)
				if err != nil {
					return err
				}
				if got != ref {
					return fmt.Errorf("tree %s was stored as %s: %w", ref.Short(), got.Short(), store.ErrCorrupt)
				}
				st.Trees++
				for _, e := range t.Entries {
					switch {
					case e.Kind == store.KindDir && !seenTrees[e.Ref]:
						seenTrees[e.Ref] = true
						if haver != nil && haver.HasTreeWhole(e.Ref) {
							st.TreesHad++
							continue
						}
						next = append(next, e.Ref)
					case e.Kind == store.KindFile && !seenFiles[e.Ref]:
						seenFiles[e.Ref] = true
						files = append(files, e.Ref)
						sizes[e.Ref] = e.Size
					}
				}
				return nil
			})
			if err != nil {
				return info, err
			}
			report()
		}
		level = next
	}
	// File records, then the chunks the target lacks.
	for i := 0; i < len(files); i += pullBatch {
		part := files[i:min(i+pullBatch, len(files))]
		var chunks []store.Ref
		seen := map[store.Ref]bool{}
		err := src.FetchFiles(ctx, part, func(f *store.FileRecord) error {
			st.Files++
			for _, c := range f.Chunks {
				if !seen[c] {
					seen[c] = true
					chunks = append(chunks, c)
				}
			}
			// The origin's mtime, so that every node gives the same
			// validators.
			return w.PutFile(f.Ref, f.Size, f.MTime, f.Chunks)
		})
		if err != nil {
			return info, err
		}
		if chunks, err = pullVariants(ctx, src, w, part, sizes, chunks, seen, st); err != nil {
			return info, err
		}
		want := chunks
		if cw, ok := w.(ChunkWanter); ok {
			if want, err = cw.WantChunks(chunks); err != nil {
				return info, err
			}
		}
		st.ChunksHad += int64(len(chunks) - len(want))
		for j := 0; j < len(want); j += pullBatch {
			err := src.FetchChunks(ctx, want[j:min(j+pullBatch, len(want))], func(ref store.Ref, data []byte) error {
				got, err := w.PutChunk(data)
				if err != nil {
					return err
				}
				if got != ref {
					return fmt.Errorf("chunk %s hashes to %s: %w", ref.Short(), got.Short(), store.ErrCorrupt)
				}
				st.Chunks++
				st.BytesFetched += int64(len(data))
				return nil
			})
			if err != nil {
				return info, err
			}
			report()
		}
	}
	info.Labels = nil
	return w.Commit(info)
}

// pullVariants files the variants src has of contents in w and adds
// their chunks to those to fetch. A variant cannot be as big as its
// content (it is kept only when a tenth smaller), nor have more chunks
// than its size needs: one that claims either is refused before its
// chunks are asked for.
func pullVariants(ctx context.Context, src Source, w store.Batch, contents []store.Ref, sizes map[store.Ref]uint64, chunks []store.Ref, seen map[store.Ref]bool, st *PullStats) ([]store.Ref, error) {
	from, ok := src.(VariantSource)
	to, ok2 := w.(VariantSink)
	if !ok || !ok2 {
		return chunks, nil
	}
	err := from.FetchVariants(ctx, contents, func(content store.Ref, vs []store.VariantRecord) error {
		for _, v := range vs {
			if v.None {
				if err := to.PutVariant(content, v.Encoding, nil); err != nil {
					return err
				}
				continue
			}
			if v.File.Size >= sizes[content] || uint64(len(v.File.Chunks)) != store.ChunksFor(v.File.Size) {
				return fmt.Errorf("variant %s of %s: %d bytes in %d chunks for a %d-byte content: %w",
					v.Encoding, content.Short(), v.File.Size, len(v.File.Chunks), sizes[content], store.ErrCorrupt)
			}
			for _, c := range v.File.Chunks {
				if !seen[c] {
					seen[c] = true
					chunks = append(chunks, c)
				}
			}
			if err := to.PutVariant(content, v.Encoding, v.File); err != nil {
				return err
			}
			st.Variants++
		}
		return nil
	})
	if errors.Is(err, errors.ErrUnsupported) {
		return chunks, nil // an older source: the commit compresses
	}
	return chunks, err
}
