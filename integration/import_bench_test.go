package integration

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// BenchmarkImportVsTools imports one real tree (VFS_BENCH_TREE; `make
// bench-tree` makes one from npm packages) with vfs, cp -a, ostree commit
// and restic backup, side by side in one run, first into empty targets and
// then again after 1% of the files changed. It reports each tool's time as a
// ratio to vfs's (above 1: vfs is faster). Wall-clock times on a shared
// machine are noisy; the ratios within one run are what to compare.
func BenchmarkImportVsTools(b *testing.B) {
	tree := os.Getenv("VFS_BENCH_TREE")
	if tree == "" {
		b.Skip("VFS_BENCH_TREE is not set (make bench-tree, then make bench)")
	}
	need(b, "cp", "ostree", "restic")
	for i := 0; i < b.N; i++ {
		runImportComparison(b, tree)
	}
}

type importer struct {
	name string
	unit string                                   // name in benchmark metric units
	run  func(b *testing.B, src string, pass int) // pass 0: first import, 1: re-import
}

func runImportComparison(b *testing.B, tree string) {
	work := b.TempDir()
	src := filepath.Join(work, "src")
	sh(b, nil, "cp", "-a", tree, src)
	files := listFiles(b, src)
	readAll(b, files) // every tool starts from a warm page cache
	tools := importers(b, work)
	var times [2][]time.Duration
	for pass := 0; pass < 2; pass++ {
		if pass == 1 {
			touchPercent(b, files, 1)
		}
		for _, tool := range tools {
			start := time.Now()
			tool.run(b, src, pass)
			times[pass] = append(times[pass], time.Since(start))
		}
	}
	fmt.Printf("\nimport of %d files (%s); time, and time as a multiple of vfs's\n", len(files), tree)
	fmt.Printf("%-16s %12s %8s %12s %8s\n", "tool", "first", "x vfs", "1% changed", "x vfs")
	for i, tool := range tools {
		r0 := times[0][i].Seconds() / times[0][0].Seconds()
		r1 := times[1][i].Seconds() / times[1][0].Seconds()
		fmt.Printf("%-16s %12s %8.2f %12s %8.2f\n", tool.name, times[0][i].Round(time.Millisecond), r0, times[1][i].Round(time.Millisecond), r1)
		if i > 0 {
			b.ReportMetric(r0, tool.unit+"/vfs-first")
			b.ReportMetric(r1, tool.unit+"/vfs-reimport")
		}
	}
	speedup := times[0][0].Seconds() / times[1][0].Seconds()
	fmt.Printf("vfs re-import with 1%% changed is %.1fx faster than its first import\n", speedup)
	b.ReportMetric(speedup, "vfs-first/reimport")
}

func importers(b *testing.B, work string) []importer {
	vfsStore := filepath.Join(work, "vfs-store")
	st, err := store.Open(vfsStore, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	ostreeRepo, resticRepo := filepath.Join(work, "ostree"), filepath.Join(work, "restic")
	sh(b, nil, "ostree", "init", "--repo="+ostreeRepo, "--mode=bare-user")
	restic := []string{"RESTIC_PASSWORD=bench", "RESTIC_CACHE_DIR=" + filepath.Join(work, "restic-cache")}
	sh(b, restic, "restic", "init", "--repo", resticRepo, "--quiet")
	return []importer{
		{"vfs import", "vfs", func(b *testing.B, src string, _ int) {
			if _, err := snapshot.ImportDir(context.Background(), st, src, snapshot.ImportOptions{}); err != nil {
				b.Fatal(err)
			}
		}},
		{"cp -a", "cp", func(b *testing.B, src string, pass int) {
			sh(b, nil, "cp", "-a", src, filepath.Join(work, fmt.Sprintf("cp%d", pass)))
		}},
		{"ostree commit", "ostree", func(b *testing.B, src string, _ int) {
			sh(b, nil, "ostree", "commit", "--repo="+ostreeRepo, "--branch=site", "--tree=dir="+src)
		}},
		{"restic backup", "restic", func(b *testing.B, src string, _ int) {
			sh(b, restic, "restic", "backup", "--repo", resticRepo, "--quiet", src)
		}},
	}
}

func listFiles(b *testing.B, root string) []string {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return files
}

func readAll(b *testing.B, files []string) {
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, f)
		f.Close()
	}
}

// touchPercent appends a byte to pct% of the files, spread evenly, and
// moves their mtimes out of the stat cache's racy window.
func touchPercent(b *testing.B, files []string, pct int) {
	step := 100 / pct
	past := time.Now().Add(-time.Minute)
	for i := 0; i < len(files); i += step {
		f, err := os.OpenFile(files[i], os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		f.Write([]byte("\n"))
		f.Close()
		os.Chtimes(files[i], past, past)
	}
}
