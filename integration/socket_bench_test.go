package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// BenchmarkSocketImport imports the same trees with vfsctl straight into a
// store and through a running vfsd's socket, alternating, each into a
// fresh store, and reports the socket's time as a multiple of the direct
// import's (the goal: at most 1.2). The trees: 100,000 tiny files
// (100 directories of 1,000), and the npm tree of make bench-tree when
// VFS_BENCH_TREE names it. Both runs read the same files from a warm page
// cache; the direct run's store lives on the same file system.
func BenchmarkSocketImport(b *testing.B) {
	tiny := filepath.Join(b.TempDir(), "tiny")
	for d := 0; d < 100; d++ {
		dir := filepath.Join(tiny, fmt.Sprintf("d%03d", d))
		os.MkdirAll(dir, 0o755)
		for f := 0; f < 1000; f++ {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d.txt", f)), []byte(fmt.Sprintf("file %d of directory %d\n", f, d)), 0o644)
		}
	}
	trees := [][2]string{{"100,000 tiny files", tiny}}
	if t := os.Getenv("VFS_BENCH_TREE"); t != "" {
		trees = append(trees, [2]string{"npm tree", t})
	}
	const rounds = 5
	for i := 0; i < b.N; i++ {
		for _, tree := range trees {
			warm(b, tree[1])
			var direct, socket []time.Duration
			for r := 0; r < rounds; r++ {
				work := publicTempDir(b)
				start := time.Now()
				out, err := exec.Command(filepath.Join(binDir, "vfsctl"), "--store", filepath.Join(work, "direct"), "-q", "snapshot", "import", tree[1]).CombinedOutput()
				if err != nil {
					b.Fatalf("direct import: %v %s", err, out)
				}
				direct = append(direct, time.Since(start))
				d := startDaemonOn(b, filepath.Join(work, "socket"))
				start = time.Now()
				d.ctl(b, "-q", "snapshot", "import", tree[1])
				socket = append(socket, time.Since(start))
				d.stop(b)
			}
			sort.Slice(direct, func(i, j int) bool { return direct[i] < direct[j] })
			sort.Slice(socket, func(i, j int) bool { return socket[i] < socket[j] })
			ratio := socket[rounds/2].Seconds() / direct[rounds/2].Seconds()
			fmt.Printf("\nimport of %s, median of %d: direct %s, through vfsd's socket %s: %.2fx\n",
				tree[0], rounds, direct[rounds/2].Round(time.Millisecond), socket[rounds/2].Round(time.Millisecond), ratio)
			fmt.Printf("  direct %v\n  socket %v\n", direct, socket)
			b.ReportMetric(ratio, "socket/direct-"+map[bool]string{true: "tiny", false: "npm"}[tree[0] != "npm tree"])
		}
	}
}

// warm reads a tree once so that every import finds it in the page cache.
func warm(b *testing.B, dir string) {
	out, err := exec.Command("sh", "-c", "find \"$1\" -type f -print0 | xargs -0 cat > /dev/null", "sh", dir).CombinedOutput()
	if err != nil {
		b.Fatalf("warm %s: %v %s", dir, err, out)
	}
}
