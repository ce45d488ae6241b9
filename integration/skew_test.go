package integration

import (
	"fmt"
	"math/rand"
	"net/http"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// skewVersion is a build of a small app: a page that references two
// content-hashed assets, each saying which version it belongs to.
func skewVersion(v int) map[string][]byte {
	js := fmt.Sprintf("/assets/app-%08x.js", 0xA0000000+v*0x1111)
	css := fmt.Sprintf("/assets/style-%08x.css", 0xB0000000+v*0x2222)
	return map[string][]byte{
		"index.html": []byte(fmt.Sprintf(`<!doctype html><link rel="stylesheet" href="%s"><script type="module" src="%s"></script><p>version %d</p>`, css, js, v)),
		js[1:]:       []byte(fmt.Sprintf("console.log('app of version %d');\n", v)),
		css[1:]:      []byte(fmt.Sprintf("/* style of version %d */ body { margin: %dpx }\n", v, v)),
	}
}

var assetRef = regexp.MustCompile(`(?:href|src)="(/assets/[^"]+)"`)

// Clients load a page, wait as a browser would, then fetch every asset the
// page references, while versions switch every 100 ms: within the grace
// window no asset request fails or returns another version's bytes.
func TestNoSkewDuringDeploys(t *testing.T) {
	d := startDaemon(t, "--grace", "10m")
	const versions = 4
	var ids []string
	for v := 0; v < versions; v++ {
		ids = append(ids, d.importDir(t, writeSite(t, skewVersion(v))))
	}
	d.ctl(t, "-q", "activate", ids[0])
	srv := startNginx(t, d.mnt, filepath.Join(d.mnt, "current"))

	stop := make(chan struct{})
	var pages, assets, bad atomic.Int64
	var firstBad atomic.Value
	fail := func(msg string) { bad.Add(1); firstBad.CompareAndSwap(nil, msg) }
	var wg sync.WaitGroup
	for c := 0; c < 6; c++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			client := &http.Client{}
			for {
				select {
				case <-stop:
					return
				default:
				}
				page := fetch(client, srv.url+"/index.html")
				pages.Add(1)
				if page.status != 200 {
					fail(fmt.Sprintf("page: status %d", page.status))
					continue
				}
				var v int
				fmt.Sscanf(regexp.MustCompile(`version (\d+)`).FindString(string(page.body)), "version %d", &v)
				time.Sleep(time.Duration(rng.Intn(400)) * time.Millisecond) // the page is parsed, the user waits
				for _, m := range assetRef.FindAllStringSubmatch(string(page.body), -1) {
					a := fetch(client, srv.url+m[1])
					assets.Add(1)
					if want := skewVersion(v)[m[1][1:]]; a.status != 200 || string(a.body) != string(want) {
						fail(fmt.Sprintf("%s of version %d: status %d, %q", m[1], v, a.status, a.body))
					}
				}
			}
		}(int64(c))
	}
	activations := 0
	deadline := time.Now().Add(loadDuration(t) / 2)
	for tick := time.NewTicker(100 * time.Millisecond); time.Now().Before(deadline); <-tick.C {
		activations++
		d.ctl(t, "-q", "activate", ids[activations%versions])
	}
	close(stop)
	wg.Wait()
	t.Logf("%d pages, %d asset requests during %d activations, %d bad", pages.Load(), assets.Load(), activations, bad.Load())
	if bad.Load() > 0 {
		t.Fatalf("%d failed or mismatched asset responses; first: %v", bad.Load(), firstBad.Load())
	}
	if assets.Load() < 2*int64(activations)/4 {
		t.Fatalf("only %d asset requests for %d activations", assets.Load(), activations)
	}
}

// After the grace window, the old version's assets are gone from /current
// (but still in /snapshots/<id>/), and entries never fall back.
func TestCarryOverEndsWithTheGraceWindow(t *testing.T) {
	d := startDaemon(t, "--grace", "2s")
	v0 := d.importDir(t, writeSite(t, skewVersion(0)))
	v1 := d.importDir(t, writeSite(t, skewVersion(1)))
	d.ctl(t, "-q", "activate", v0)
	d.ctl(t, "-q", "activate", v1)
	srv := startNginx(t, d.mnt, filepath.Join(d.mnt, "current"))
	old := "/assets/app-a0000000.js"
	client := &http.Client{}
	if r := fetch(client, srv.url+old); r.status != 200 || string(r.body) != string(skewVersion(0)[old[1:]]) {
		t.Fatalf("old asset within the window: %d %q", r.status, r.body)
	}
	time.Sleep(3500 * time.Millisecond)
	if r := fetch(client, srv.url+old); r.status != 404 {
		t.Fatalf("old asset after the window: %d, want 404", r.status)
	}
	if r := fetch(client, srv.url+"/snapshots/"+v0+old); r.status != 200 {
		t.Fatalf("old asset in its own snapshot: %d, want 200", r.status)
	}
}

type response struct {
	status int
	body   []byte
}

func fetch(client *http.Client, url string) response {
	resp, err := client.Get(url)
	if err != nil {
		return response{status: -1, body: []byte(err.Error())}
	}
	defer resp.Body.Close()
	var b []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			break
		}
	}
	return response{status: resp.StatusCode, body: b}
}
