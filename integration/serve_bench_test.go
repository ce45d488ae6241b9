package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// smallSite is 200 files of 1 to 10 KB and one 1 MB file.
func smallSite() map[string][]byte {
	files := map[string][]byte{}
	for i := 0; i < 200; i++ {
		files[fmt.Sprintf("s/%03d.html", i)] = randomBytes(1024+i*46, int64(i))
	}
	files["big/1mb.bin"] = randomBytes(1<<20, 999)
	return files
}

// wrkScript cycles through the paths in a file, one per request.
const wrkScript = `
local paths = {}
for line in io.lines(os.getenv("VFS_WRK_PATHS")) do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, paths[(i % #paths) + 1])
end
`

// wrkRate runs wrk against base with paths for d and returns requests/s.
func wrkRate(b *testing.B, base string, paths []string, d time.Duration) float64 {
	dir := b.TempDir()
	script, list := filepath.Join(dir, "cycle.lua"), filepath.Join(dir, "paths")
	os.WriteFile(script, []byte(wrkScript), 0o644)
	os.WriteFile(list, []byte(strings.Join(paths, "\n")+"\n"), 0o644)
	cmd := exec.Command("wrk", "-t2", "-c32", "-d"+d.String(), "-s", script, base)
	cmd.Env = append(os.Environ(), "VFS_WRK_PATHS="+list)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`).FindSubmatch(out)
	if m == nil || bytes.Contains(out, []byte("Non-2xx")) {
		b.Fatalf("wrk output:\n%s", out)
	}
	r, _ := strconv.ParseFloat(string(m[1]), 64)
	return r
}

// BenchmarkNginxThroughMount: nginx requests/s on the mount against the
// same files in a native directory, side by side in one run, alternating
// to spread the machine's noise over both; warm caches, keep-alive.
func BenchmarkNginxThroughMount(b *testing.B) {
	need(b, "nginx", "wrk")
	d := startDaemon(b)
	files := smallSite()
	native := writeSite(b, files)
	for p := native; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	d.importDir(b, native, "--activate")
	onMount := startNginx(b, d.mnt, filepath.Join(d.mnt, "current"))
	onDisk := startNginx(b, d.mnt, native)
	var small []string
	for p := range files {
		if strings.HasPrefix(p, "s/") {
			small = append(small, "/"+p)
		}
	}
	sort.Strings(small)
	for _, c := range []struct {
		name  string
		paths []string
	}{{"small", small}, {"1mb", []string{"/big/1mb.bin"}}} {
		wrkRate(b, onMount.url, c.paths, time.Second) // warm both
		wrkRate(b, onDisk.url, c.paths, time.Second)
		var mount, disk float64
		for round := 0; round < 3; round++ {
			mount += wrkRate(b, onMount.url, c.paths, 4*time.Second)
			disk += wrkRate(b, onDisk.url, c.paths, 4*time.Second)
		}
		fmt.Printf("nginx %-5s files: mount %8.0f req/s, native %8.0f req/s, mount/native %.2f\n", c.name, mount/3, disk/3, mount/disk)
		b.ReportMetric(mount/disk, c.name+"-mount/native")
	}
}

// BenchmarkActivationLatency: from the start of `vfsctl activate` to the
// first read through the mount that sees the new snapshot, for a 10-file
// and a 100,000-file snapshot, in one run.
func BenchmarkActivationLatency(b *testing.B) {
	d := startDaemon(b)
	var medians []time.Duration
	for _, n := range []int{10, 100000} {
		ids := [2]string{}
		for v := range ids {
			ids[v] = d.importDir(b, manyFiles(b, n, v))
		}
		var times []time.Duration
		for i := 0; i < 40; i++ {
			v := i % 2
			start := time.Now()
			d.ctl(b, "-q", "activate", ids[v])
			for {
				got, err := os.ReadFile(filepath.Join(d.mnt, "current/marker.txt"))
				if err == nil && string(got) == strconv.Itoa(v) {
					break
				}
			}
			times = append(times, time.Since(start))
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		medians = append(medians, times[len(times)/2])
		fmt.Printf("activation of a %6d-file snapshot: median %v, max %v\n", n, times[len(times)/2].Round(time.Microsecond), times[len(times)-1].Round(time.Microsecond))
	}
	ratio := float64(medians[1]) / float64(medians[0])
	fmt.Printf("100,000 files / 10 files: %.2f\n", ratio)
	b.ReportMetric(ratio, "100k/10-latency")
	b.ReportMetric(float64(medians[1].Microseconds())/1000, "ms-median-100k")
}

// manyFiles writes n tiny files and a marker naming version v.
func manyFiles(b *testing.B, n, v int) string {
	dir := b.TempDir()
	for i := 0; i < n; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("d%03d", i/1000))
		if i%1000 == 0 {
			os.MkdirAll(sub, 0o755)
		}
		os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d.txt", i)), []byte(fmt.Sprintf("%d/%d", i, v)), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "marker.txt"), []byte(strconv.Itoa(v)), 0o644)
	return dir
}

// BenchmarkColdRead: first read of a 200 MB file through the mount against
// cat of the same file on disk, page cache dropped before each.
func BenchmarkColdRead(b *testing.B) {
	d := startDaemon(b)
	dir := writeSite(b, map[string][]byte{"video.bin": randomBytes(200<<20, 7)})
	d.importDir(b, dir, "--activate")
	var mount, disk time.Duration
	for round := 0; round < 3; round++ {
		mount += coldCat(b, filepath.Join(d.mnt, "current/video.bin"))
		disk += coldCat(b, filepath.Join(dir, "video.bin"))
	}
	mbps := func(t time.Duration) float64 { return 3 * 200 / t.Seconds() }
	fmt.Printf("cold read of 200 MB: mount %.0f MB/s, disk %.0f MB/s, mount/disk %.2f\n", mbps(mount), mbps(disk), mbps(mount)/mbps(disk))
	b.ReportMetric(mbps(mount)/mbps(disk), "cold-mount/disk")
}

func coldCat(b *testing.B, path string) time.Duration {
	exec.Command("sync").Run()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200); err != nil {
		b.Skipf("cannot drop caches: %v", err)
	}
	start := time.Now()
	if out, err := exec.Command("cat", path).Output(); err != nil || len(out) != 200<<20 {
		b.Fatalf("cat %s: %v, %d bytes", path, err, len(out))
	}
	return time.Since(start)
}

// BenchmarkDaemonMemory: vfsd's resident memory after every file of a
// 100,000-file snapshot was read through the mount.
func BenchmarkDaemonMemory(b *testing.B) {
	d := startDaemon(b)
	d.importDir(b, manyFiles(b, 100000, 0), "--activate")
	before := rssKiB(b, d)
	if out, err := exec.Command("sh", "-c", "find "+filepath.Join(d.mnt, "current")+" -type f -exec cat {} + | wc -c").CombinedOutput(); err != nil {
		b.Fatalf("read all: %v %s", err, out)
	}
	after := rssKiB(b, d)
	fmt.Printf("vfsd RSS: %d MiB after start, %d MiB after reading 100,000 files\n", before/1024, after/1024)
	b.ReportMetric(float64(after)/1024, "MiB-rss-100k")
}

func rssKiB(b *testing.B, d *daemon) int {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(status)
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
