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

// wrkRate runs wrk against base with paths for d and returns requests/s;
// headers ("Name: value") go with every request.
func wrkRate(b *testing.B, base string, paths []string, d time.Duration, headers ...string) float64 {
	dir := b.TempDir()
	script, list := filepath.Join(dir, "cycle.lua"), filepath.Join(dir, "paths")
	os.WriteFile(script, []byte(wrkScript), 0o644)
	os.WriteFile(list, []byte(strings.Join(paths, "\n")+"\n"), 0o644)
	args := []string{"-t2", "-c32", "-d" + d.String(), "-s", script}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	cmd := exec.Command("wrk", append(args, base)...)
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

// precompressedConf is nginx serving root with gzip_static (the siblings on
// disk) or, with OnTheFly, compressing each response at level 6.
const precompressedConf = nginxHTTP + `    server {
        listen 127.0.0.1:{{.Port}};
        root {{.Root}};
        {{if eq .Mount "on-the-fly"}}gzip on; gzip_comp_level 6; gzip_types text/javascript application/javascript;{{else}}gzip_static on;{{end}}
        gzip_vary on;
    }
}
`

// BenchmarkNginxPrecompressed (make bench): nginx serving a 400 KB
// JavaScript bundle to clients that accept gzip, side by side in one run:
// gzip_static through the mount (app.js.gz is the variant vfsd made at
// import), gzip_static on a native copy of the same files with app.js.gz
// from gzip -9 -k, and nginx compressing
// each response at level 6 (no .gz on disk). Goals: the mount at least 0.95
// of native, and at least 100 times on-the-fly. Also the bytes a client
// receives with br against gzip.
func BenchmarkNginxPrecompressed(b *testing.B) {
	need(b, "nginx", "wrk", "gzip", "brotli")
	var js bytes.Buffer
	for i := 0; js.Len() < 400<<10; i++ {
		fmt.Fprintf(&js, "export function handler%d(event, state) { const item%d = state.items[%d %% state.items.length]; return render(item%d, event.target, %q); }\n", i, i, i*7919, i, fmt.Sprintf("label-%x", i*2654435761))
	}
	native := writeSite(b, map[string][]byte{"assets/app-1a2b3c4d.js": js.Bytes()})
	for p := native; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	plain := writeSite(b, map[string][]byte{"assets/app-1a2b3c4d.js": js.Bytes()})
	for p := plain; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	app := filepath.Join(native, "assets", "app-1a2b3c4d.js")
	sh(b, nil, "gzip", "-9", "-k", app)
	// The mount's .gz and .br are the variants vfsd makes at import: the
	// site it imports ships none.
	d := startDaemon(b)
	d.importDir(b, plain, "--activate")
	start := func(root, mode string) webServer {
		return startServer(b, "nginx", precompressedConf, mode, root, func(conf string, c serverConf) *exec.Cmd {
			return exec.Command("nginx", "-c", conf, "-p", c.Dir)
		})
	}
	onMount := start(filepath.Join(d.mnt, "current"), "static")
	onDisk := start(native, "static")
	onTheFly := start(plain, "on-the-fly")
	paths, enc := []string{"/assets/app-1a2b3c4d.js"}, "Accept-Encoding: gzip"
	for _, s := range []webServer{onMount, onDisk, onTheFly} {
		wrkRate(b, s.url, paths, time.Second, enc) // warm
	}
	var mount, disk, fly float64
	for round := 0; round < 3; round++ {
		mount += wrkRate(b, onMount.url, paths, 4*time.Second, enc)
		disk += wrkRate(b, onDisk.url, paths, 4*time.Second, enc)
		fly += wrkRate(b, onTheFly.url, paths, 4*time.Second, enc)
	}
	gz, _ := os.Stat(filepath.Join(d.mnt, "current", "assets", "app-1a2b3c4d.js.gz"))
	br, _ := os.Stat(filepath.Join(d.mnt, "current", "assets", "app-1a2b3c4d.js.br"))
	fmt.Printf("nginx, a %d KB bundle, Accept-Encoding: gzip: gzip_static on the mount %.0f req/s, on a native copy %.0f req/s, gzip level 6 on the fly %.0f req/s; mount/native %.2f, mount/on-the-fly %.0f\n",
		len(js.Bytes())>>10, mount/3, disk/3, fly/3, mount/disk, mount/fly)
	native9, _ := os.Stat(app + ".gz")
	fmt.Printf("bytes on the wire: plain %d, vfs's gzip %d (gzip -9 -k: %d), vfs's brotli %d (br/gzip %.2f)\n", len(js.Bytes()), gz.Size(), native9.Size(), br.Size(), float64(br.Size())/float64(gz.Size()))
	b.ReportMetric(mount/disk, "gzip_static-mount/native")
	b.ReportMetric(mount/fly, "gzip_static-mount/on-the-fly")
}
