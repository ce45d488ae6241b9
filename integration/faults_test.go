package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// currentID asks the daemon which snapshot current points at.
func (d *daemon) currentID(t *testing.T) string {
	t.Helper()
	var st struct {
		Refs map[string]string `json:"refs"`
	}
	if err := json.Unmarshal([]byte(d.ctl(t, "--json", "status")), &st); err != nil {
		t.Fatal(err)
	}
	return st.Refs["current"]
}

// sameTree fails unless every file of src reads the same below dir.
func sameTree(t *testing.T, src, dir string) {
	t.Helper()
	filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		want, _ := os.ReadFile(p)
		got, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s differs through the mount (%v)", rel, err)
		}
		return nil
	})
}

func vfsMounts(t *testing.T, dir string) int {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == dir {
			n++
		}
	}
	return n
}

// kill -9 at random points of import, activation, prune and gc: after each
// restart the snapshot current names is served byte for byte, verify (the
// objects and the log's chain) is clean, and no stale mount is left.
func TestKilledAtRandomPoints(t *testing.T) {
	d := startDaemon(t)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	sites := map[string]string{} // snapshot id -> source dir
	newSite := func(round int) string {
		files := map[string][]byte{"index.html": []byte(fmt.Sprintf("round %d", round))}
		for i := 0; i < 40; i++ {
			files[fmt.Sprintf("assets/f%02d-%d.js", i, round)] = randomBytes(20000+rng.Intn(40000), int64(round*100+i))
		}
		return writeSite(t, files)
	}
	first := newSite(0)
	id := d.importDir(t, first)
	sites[id] = first
	d.ctl(t, "-q", "activate", id)
	for round := 1; round <= 20; round++ {
		var args []string
		src := newSite(round)
		switch round % 4 {
		case 0:
			args = []string{"snapshot", "import", src}
		case 1:
			id := d.importDir(t, src)
			sites[id] = src
			args = []string{"activate", id}
		case 2:
			args = []string{"snapshot", "prune", "--keep-last", "2", "--keep-within", "0s", "--force"}
		case 3:
			args = []string{"gc"}
		}
		cmd := exec.Command(filepath.Join(binDir, "vfsctl"), append([]string{"-q", "--socket", d.sock}, args...)...)
		var out bytes.Buffer
		cmd.Stdout = &out
		cmd.Start()
		time.Sleep(time.Duration(rng.Intn(120)) * time.Millisecond)
		d.kill(t)
		cmd.Wait()
		if round%4 == 0 {
			if id := strings.TrimSpace(out.String()); id != "" {
				sites[id] = src
			}
		}
		d.start(t)
		cur := d.currentID(t)
		src, ok := sites[cur]
		if !ok {
			t.Fatalf("round %d (%v): current is %s, which no import made", round, args, cur)
		}
		sameTree(t, src, filepath.Join(d.mnt, "current"))
		if _, errb, err := d.try("verify"); err != nil {
			t.Fatalf("round %d (%v): verify: %v\n%s", round, args, err, errb)
		}
		if n := vfsMounts(t, d.mnt); n != 1 {
			t.Fatalf("round %d: %d mounts at %s", round, n, d.mnt)
		}
	}
}

// SIGTERM while 8 clients activate in a loop, three times over: vfsd exits
// cleanly each time (no panic, exit 0), and the store it leaves verifies
// and serves what its ref names.
func TestStopWhileActivating(t *testing.T) {
	d := startDaemon(t)
	a := writeSite(t, map[string][]byte{"index.html": []byte("a")})
	b := writeSite(t, map[string][]byte{"index.html": []byte("b")})
	ids := []string{d.importDir(t, a), d.importDir(t, b)}
	srcs := map[string]string{ids[0]: a, ids[1]: b}
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					if _, _, err := d.try("-q", "activate", ids[(g+i)%2]); err != nil {
						return // the daemon is gone
					}
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		d.cmd.Process.Signal(syscall.SIGTERM)
		err := d.cmd.Wait()
		d.cmd = nil
		wg.Wait()
		if err != nil || strings.Contains(d.log.String(), "panic") {
			t.Fatalf("round %d: vfsd stopped with %v:\n%s", round, err, d.log)
		}
		d.start(t)
		if _, errb, err := d.try("verify"); err != nil {
			t.Fatalf("verify after the stop: %v\n%s", err, errb)
		}
		sameTree(t, srcs[d.currentID(t)], filepath.Join(d.mnt, "current"))
	}
}
