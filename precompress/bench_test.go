package precompress

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
)

// BenchmarkLevels compresses one real JavaScript file of the bench tree
// (VFS_BENCH_TREE: mathjax's mml-svg.js, 1.7 MB) with brotli at qualities
// 11 (what vfs uses), 9 and 5 and with gzip -9, side by side, and reports
// each one's size and time as ratios to brotli 11's: what the quality
// buys, and what it costs; then brotli 11 on 16 MiB of JavaScript, with
// the process's peak RSS.
func BenchmarkLevels(b *testing.B) {
	tree := os.Getenv("VFS_BENCH_TREE")
	if tree == "" {
		b.Skip("VFS_BENCH_TREE is not set (make bench-tree, then make bench)")
	}
	data, err := os.ReadFile(filepath.Join(tree, "mathjax", "mml-svg.js"))
	if err != nil {
		b.Skip(err)
	}
	type level struct {
		name string
		run  func(*bytes.Buffer)
	}
	br := func(q int) func(*bytes.Buffer) {
		return func(out *bytes.Buffer) {
			w := brotli.NewWriterLevel(out, q)
			w.Write(data)
			w.Close()
		}
	}
	levels := []level{{"brotli 11", br(11)}, {"brotli 9", br(9)}, {"brotli 5", br(5)}, {"gzip 9", func(out *bytes.Buffer) {
		w, _ := gzip.NewWriterLevel(out, 9)
		w.Write(data)
		w.Close()
	}}}
	for i := 0; i < b.N; i++ {
		var sizes []int
		var times []time.Duration
		for _, l := range levels {
			var out bytes.Buffer
			start := time.Now()
			l.run(&out)
			times = append(times, time.Since(start))
			sizes = append(sizes, out.Len())
		}
		fmt.Printf("\n%d bytes of JavaScript; size and time as multiples of brotli 11's\n", len(data))
		fmt.Printf("%-10s %10s %6s %10s %8s %8s\n", "", "bytes", "x", "time", "x", "MB/s")
		for j, l := range levels {
			fmt.Printf("%-10s %10d %6.2f %10s %8.3f %8.1f\n", l.name, sizes[j], float64(sizes[j])/float64(sizes[0]),
				times[j].Round(time.Millisecond), times[j].Seconds()/times[0].Seconds(), float64(len(data))/times[j].Seconds()/1e6)
		}
		b.ReportMetric(float64(sizes[1])/float64(sizes[0]), "br9-size/br11")
		b.ReportMetric(times[0].Seconds()/times[1].Seconds(), "br11-time/br9")
	}
	// What a big file costs at quality 11: the tree's mathjax and
	// typescript JavaScript, concatenated, up to 16 MiB (store.MaxCompress).
	var big bytes.Buffer
	for _, pattern := range []string{"mathjax/*.js", "typescript/lib/*.js"} {
		files, _ := filepath.Glob(filepath.Join(tree, pattern))
		for _, f := range files {
			if big.Len() < 16<<20 {
				d, _ := os.ReadFile(f)
				big.Write(d[:min(len(d), 16<<20-big.Len())])
			}
		}
	}
	var out bytes.Buffer
	start := time.Now()
	w := brotli.NewWriterLevel(&out, 11)
	w.Write(big.Bytes())
	w.Close()
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("brotli 11 on %d bytes of JavaScript: %d bytes in %s; the process's peak RSS %d MiB\n",
		big.Len(), out.Len(), time.Since(start).Round(time.Millisecond), ru.Maxrss>>10)
}
