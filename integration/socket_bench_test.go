package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
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
			var ratios, cpuRatios []float64
			var direct, socket []time.Duration
			for r := 0; r < rounds; r++ {
				work := publicTempDir(b)
				cmd := exec.Command(filepath.Join(binDir, "vfsctl"), "--store", filepath.Join(work, "direct"), "-q", "snapshot", "import", tree[1])
				start := time.Now()
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("direct import: %v %s", err, out)
				}
				dt := time.Since(start)
				dcpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
				d := startDaemonOn(b, filepath.Join(work, "socket"))
				before := processCPU(b, d.cmd.Process.Pid)
				cmd = exec.Command(filepath.Join(binDir, "vfsctl"), "--socket", d.sock, "-q", "snapshot", "import", tree[1])
				start = time.Now()
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("socket import: %v %s", err, out)
				}
				st := time.Since(start)
				scpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime() + processCPU(b, d.cmd.Process.Pid) - before
				d.stop(b)
				direct, socket = append(direct, dt), append(socket, st)
				ratios = append(ratios, st.Seconds()/dt.Seconds())
				cpuRatios = append(cpuRatios, scpu.Seconds()/dcpu.Seconds())
				fmt.Printf("  round %d: direct %s (cpu %s), socket %s (cpu %s, client and daemon)\n", r+1,
					dt.Round(time.Millisecond), dcpu.Round(time.Millisecond), st.Round(time.Millisecond), scpu.Round(time.Millisecond))
			}
			ratio, cpu := median(ratios), median(cpuRatios)
			fmt.Printf("import of %s through vfsd's socket: %.2fx the direct import's time, %.2fx its CPU (medians of %d rounds, each a direct and a socket import in turn)\n\n",
				tree[0], ratio, cpu, rounds)
			name := map[bool]string{true: "tiny", false: "npm"}[tree[0] != "npm tree"]
			b.ReportMetric(ratio, "socket/direct-"+name)
			b.ReportMetric(cpu, "socket/direct-cpu-"+name)
		}
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// processCPU is a process's user and system time so far.
func processCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// warm reads a tree once so that every import finds it in the page cache.
func warm(b *testing.B, dir string) {
	out, err := exec.Command("sh", "-c", "find \"$1\" -type f -print0 | xargs -0 cat > /dev/null", "sh", dir).CombinedOutput()
	if err != nil {
		b.Fatalf("warm %s: %v %s", dir, err, out)
	}
}
