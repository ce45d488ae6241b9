package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/vfs-project/vfs/precompress"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// BenchmarkImportCompress imports one real tree (VFS_BENCH_TREE) into two
// stores side by side, one that makes variants (.br, .gz) and one that does
// not, first into empty stores and then again after 1% of the files
// changed. It reports the cost of compressing as ratios of the two imports'
// times (the goal: a re-import within 1.10 of one without
// variants), and what checking every variant by decompressing it costs (a
// pulling node's work) against making them (the importing node's).
func BenchmarkImportCompress(b *testing.B) {
	tree := os.Getenv("VFS_BENCH_TREE")
	if tree == "" {
		b.Skip("VFS_BENCH_TREE is not set (make bench-tree, then make bench)")
	}
	for i := 0; i < b.N; i++ {
		runImportCompress(b, tree)
	}
}

func runImportCompress(b *testing.B, tree string) {
	work := b.TempDir()
	src := filepath.Join(work, "src")
	sh(b, nil, "cp", "-a", tree, src)
	files := listFiles(b, src)
	readAll(b, files)
	comp, _ := precompress.New(nil)
	open := func(name string, c store.Compressor) *store.Store {
		st, err := store.Open(filepath.Join(work, name), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		if c != nil {
			st.SetCompressor(c)
		}
		return st
	}
	with, without := open("with", comp), open("without", nil)
	var times [2][2]time.Duration
	var stats [2]store.VariantStats
	var id store.Ref
	for pass := 0; pass < 2; pass++ {
		if pass == 1 {
			touchPercent(b, files, 1)
		}
		for i, st := range []*store.Store{without, with} {
			start := time.Now()
			res, err := snapshot.ImportDir(context.Background(), st, src, snapshot.ImportOptions{})
			if err != nil {
				b.Fatal(err)
			}
			times[pass][i] = time.Since(start)
			if i == 1 {
				stats[pass], id = res.Stats.Compressed, res.Snapshot.ID
			}
		}
	}
	fmt.Printf("\nimport of %d files (%s) with variants against without\n", len(files), tree)
	fmt.Printf("%-12s %12s %12s %8s %s\n", "pass", "without", "with", "ratio", "compressed")
	for pass, name := range []string{"first", "1% changed"} {
		r := times[pass][1].Seconds() / times[pass][0].Seconds()
		s := stats[pass]
		fmt.Printf("%-12s %12s %12s %8.2f %d files, %d MiB -> %d variants saving %d MiB, %d workers, %s\n", name,
			times[pass][0].Round(time.Millisecond), times[pass][1].Round(time.Millisecond), r,
			s.Files, s.Bytes>>20, s.Variants, s.Saved>>20, s.Workers, s.Elapsed.Round(time.Millisecond))
		b.ReportMetric(r, []string{"with/without-first", "with/without-reimport"}[pass])
	}

	// Checking every variant of the snapshot, on as many workers as
	// compressing used: what a node that pulls them pays.
	type job struct {
		content *store.FileRecord
		variant store.Ref
		enc     store.Encoding
	}
	var jobs []job
	seen := map[store.Ref]bool{}
	err := store.WalkDistinct(with, id, func(_ string, e store.Entry) error {
		if e.Kind != store.KindFile || seen[e.Ref] {
			return nil
		}
		seen[e.Ref] = true
		vs, err := with.Variants(e.Ref)
		if err != nil {
			return err
		}
		rec, err := with.File(e.Ref)
		if err != nil {
			return err
		}
		for _, v := range vs {
			if !v.None {
				jobs = append(jobs, job{rec, v.Ref, v.Encoding})
			}
		}
		return nil
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	workers := runtime.GOMAXPROCS(0)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := w; j < len(jobs); j += workers {
				rec, err := with.File(jobs[j].variant)
				if err == nil {
					err = comp.Check(jobs[j].enc, store.NewContentReader(with, rec), jobs[j].content.Ref, jobs[j].content.Size)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	check := time.Since(start)
	ratio := (stats[0].Elapsed + stats[1].Elapsed).Seconds() / check.Seconds()
	fmt.Printf("checking the snapshot's %d variants by decompressing them: %s on %d workers; making them took %.0fx as long\n",
		len(jobs), check.Round(time.Millisecond), workers, ratio)
	b.ReportMetric(ratio, "compress/check")
}
