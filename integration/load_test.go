package integration

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadDuration is how long the load test switches versions: 30 s, or
// VFS_LOAD_SECONDS.
func loadDuration(t *testing.T) time.Duration {
	if s := os.Getenv("VFS_LOAD_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("VFS_LOAD_SECONDS=%q", s)
		}
		return time.Duration(n) * time.Second
	}
	if testing.Short() {
		return 5 * time.Second
	}
	return 30 * time.Second
}

// versionFiles is version v of a site: every path exists in every version,
// and every body says which version it is, all through, so a torn or mixed
// response cannot equal any version.
func versionFiles(v int) map[string][]byte {
	fill := func(size int, tag string) []byte {
		return bytes.Repeat([]byte(tag), size/len(tag)+1)[:size]
	}
	return map[string][]byte{
		"index.html":         fill(2000+100*v, fmt.Sprintf("<p>version %d</p>\n", v)),
		"docs/page.html":     fill(5000+v, fmt.Sprintf("<p>page of version %d</p>\n", v)),
		"assets/common.css":  fill(3000, "body{margin:0}\n"), // the same in every version
		"media/big.bin":      fill(1<<20, fmt.Sprintf("v%d-", v)),
		"media/big-same.bin": fill(3<<20, "shared-large-"),
	}
}

// Clients fetch pages and large files through nginx while vfsctl activates
// the versions in turn every 100 ms: every response must be 200 and equal
// one complete version of its file.
func TestNoTornResponsesDuringActivations(t *testing.T) {
	d := startDaemon(t)
	const versions = 3
	var ids []string
	want := map[string][][]byte{}
	for v := 0; v < versions; v++ {
		files := versionFiles(v)
		ids = append(ids, d.importDir(t, writeSite(t, files)))
		for p, b := range files {
			want[p] = append(want[p], b)
		}
	}
	d.ctl(t, "activate", ids[0])
	srv := startNginx(t, d.mnt, filepath.Join(d.mnt, "current"))
	paths := make([]string, 0, len(want))
	for p := range want {
		paths = append(paths, p)
	}

	stop := make(chan struct{})
	var requests, bad atomic.Int64
	var firstBad atomic.Value
	var wg sync.WaitGroup
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			for i := c; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := paths[i%len(paths)]
				if msg := fetchOneOf(client, srv.url+"/"+p, want[p]); msg != "" {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, p+": "+msg)
				}
				requests.Add(1)
			}
		}(c)
	}
	activations := 0
	deadline := time.Now().Add(loadDuration(t))
	for tick := time.NewTicker(100 * time.Millisecond); time.Now().Before(deadline); <-tick.C {
		activations++
		d.ctl(t, "-q", "activate", ids[activations%versions])
	}
	close(stop)
	wg.Wait()
	t.Logf("%d requests during %d activations, %d bad", requests.Load(), activations, bad.Load())
	if bad.Load() > 0 {
		t.Fatalf("%d bad responses; first: %v", bad.Load(), firstBad.Load())
	}
	if requests.Load() < int64(activations) {
		t.Fatalf("only %d requests for %d activations: the test exercised too little", requests.Load(), activations)
	}
}

// fetchOneOf GETs url and returns "" if the response is 200 and equals one
// of the bodies, else what was wrong.
func fetchOneOf(client *http.Client, url string, bodies [][]byte) string {
	resp, err := client.Get(url)
	if err != nil {
		return err.Error()
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err.Error()
	}
	if resp.StatusCode != 200 {
		return fmt.Sprintf("status %d", resp.StatusCode)
	}
	for _, b := range bodies {
		if bytes.Equal(body, b) {
			return ""
		}
	}
	return fmt.Sprintf("%d bytes equal to no version", len(body))
}
