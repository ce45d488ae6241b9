package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vfs-project/vfs/store"
)

// socketClient speaks HTTP to a daemon's socket, as a hostile local
// client would.
func socketClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
}

// peakRSSMiB is a process's peak resident set (VmHWM), in MiB.
func peakRSSMiB(t *testing.T, pid int) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb >> 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// mounted reports whether dir is a mount point.
func mounted(dir string) bool {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	return bytes.Contains(data, []byte(" "+dir+" "))
}

// Twelve 45-byte records requests, each claiming 134 million chunks,
// once took vfsd's peak RSS from 23 MiB to 8.2 GiB; and once a daemon
// that had answered them never exited on SIGTERM. Now each is refused
// having allocated for what arrived, the daemon serves on, and SIGTERM
// ends it and its mount within the documented bound.
func TestCraftedRequestsThenSIGTERM(t *testing.T) {
	d := startDaemon(t, "--unmount-wait", "5s")
	hc := socketClient(d.sock)
	resp, err := hc.Post("http://vfs/v1/imports", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var imp struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&imp)
	resp.Body.Close()
	claim := append([]byte{'f'}, make([]byte, 32)...)
	claim = binary.AppendUvarint(claim, (1<<32/32-1)*(256<<10))
	claim = binary.AppendVarint(claim, 1)
	claim = binary.AppendUvarint(claim, 1<<32/32-1)
	before := peakRSSMiB(t, d.cmd.Process.Pid)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := 0; i < 12; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			req, _ := http.NewRequest("POST", "http://vfs/v1/imports/"+imp.ID+"/objects", bytes.NewReader(claim))
			req.Header.Set("Content-Type", "application/vnd.vfs.records")
			resp, err := hc.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("a crafted record: %s, want 400", resp.Status)
			}
		}()
	}
	wg.Wait()
	after := peakRSSMiB(t, d.cmd.Process.Pid)
	t.Logf("peak RSS %d MiB before the crafted requests, %d MiB after", before, after)
	if after > 400 {
		t.Errorf("peak RSS %d MiB after twelve 45-byte requests; the bound is 400", after)
	}
	// The largest bodies the daemon takes, many at once: at most four
	// are decoded at a time, each at most 32 MiB.
	var big bytes.Buffer
	big.WriteString(`{"queries":[`)
	path := strings.Repeat("p", 8000)
	for big.Len() < 32<<20-9000 {
		if big.Len() > 20 {
			big.WriteByte(',')
		}
		big.WriteString(`{"path":"` + path + `"}`)
	}
	big.WriteString(`]}`)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := hc.Post("http://vfs/v1/imports/"+imp.ID+"/cached", "application/json", bytes.NewReader(big.Bytes()))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
	peak := peakRSSMiB(t, d.cmd.Process.Pid)
	t.Logf("peak RSS %d MiB after sixteen 32 MiB bodies at once (docs/security.md gives the bound: 400 MiB)", peak)
	if peak > 400 {
		t.Errorf("peak RSS %d MiB after sixteen 32 MiB bodies; the documented bound is 400", peak)
	}
	d.ctl(t, "status")
	d.stop(t) // SIGTERM; fails the test unless vfsd exits cleanly within 60 s
	if mounted(d.mnt) {
		t.Errorf("%s is still mounted after vfsd exited", d.mnt)
	}
}

// vfsd makes the missing parents of --store and --mount 0755 (they were
// 0700, and nginx's user then got 403 on every path while vfsd said
// ready): user nobody reads the mount.
func TestMissingParentsLetTheWebServerIn(t *testing.T) {
	need(t, "runuser")
	base := publicTempDir(t)
	d := &daemon{dir: base, store: filepath.Join(base, "srv/vfs/store"), mnt: filepath.Join(base, "srv/vfs/mnt"), sock: filepath.Join(base, "vfsd.sock")}
	if os.Getuid() != 0 {
		missing(t, "vfsd mounts with mount(2): run as root")
	}
	d.start(t)
	t.Cleanup(func() { d.stop(t) })
	site := writeSite(t, map[string][]byte{"index.html": []byte("<h1>reachable</h1>")})
	id := d.importDir(t, site)
	d.ctl(t, "activate", id)
	out, err := exec.Command("runuser", "-u", "nobody", "--", "cat", filepath.Join(d.mnt, "current", "index.html")).CombinedOutput()
	if err != nil || string(out) != "<h1>reachable</h1>" {
		t.Errorf("user nobody reading the mount: %v %s", err, out)
	}
	if strings.Contains(d.log.String(), "cannot reach the mount") {
		t.Errorf("vfsd warned that the web server cannot reach a mount it can:\n%s", d.log)
	}
}

// /a/<hash> serves a content no more readably than the snapshots do: a
// secret imported 0600 is refused to user nobody there, as at /current,
// while a public file is served.
func TestPrivateContentNotServedByHash(t *testing.T) {
	need(t, "runuser")
	d := startDaemon(t)
	site := writeSite(t, map[string][]byte{"index.html": []byte("<h1>public</h1>"), ".env": []byte("password=hunter2")})
	os.Chmod(filepath.Join(site, ".env"), 0o600)
	d.ctl(t, "activate", d.importDir(t, site))
	read := func(p string) error {
		return exec.Command("runuser", "-u", "nobody", "--", "cat", filepath.Join(d.mnt, p)).Run()
	}
	secret, public := store.Sum([]byte("password=hunter2")), store.Sum([]byte("<h1>public</h1>"))
	if err := read("a/" + public.String() + ".html"); err != nil {
		t.Errorf("nobody cannot read a public file by hash: %v", err)
	}
	for _, p := range []string{"current/.env", "a/" + secret.String(), "a/" + secret.String() + ".txt"} {
		if err := read(p); err == nil {
			t.Errorf("nobody read %s, a file imported 0600", p)
		}
	}
}
