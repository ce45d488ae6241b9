package integration

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Imports and activations while gc runs in a loop: every one succeeds (GC
// never deletes what an open import relies on, and its brief write block
// is waited out), and the store verifies at the end.
func TestImportsAndActivationsDuringGC(t *testing.T) {
	d := startDaemon(t)
	stop := make(chan struct{})
	var gcs atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	halt := func() { once.Do(func() { close(stop) }); wg.Wait() }
	defer halt() // also when a check below fails the test
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, errb, err := d.try("-q", "gc"); err != nil {
				t.Errorf("gc: %v\n%s", err, errb)
				return
			}
			gcs.Add(1)
		}
	}()
	shared := randomBytes(300000, 99) // content every import relies on
	var ids []string
	for i := 0; i < 40; i++ {
		site := writeSite(t, map[string][]byte{
			"index.html":                      []byte(fmt.Sprintf("site %d", i)),
			"assets/shared.js":                shared,
			fmt.Sprintf("assets/own%d.js", i): randomBytes(50000, int64(i)),
		})
		out, errb, err := d.try("-q", "snapshot", "import", site)
		if err != nil {
			t.Fatalf("import %d during gc: %v\n%s", i, err, errb)
		}
		id := strings.TrimSpace(out)
		ids = append(ids, id)
		if _, errb, err := d.try("-q", "activate", id); err != nil {
			t.Fatalf("activate %d during gc: %v\n%s", i, err, errb)
		}
	}
	halt()
	if gcs.Load() == 0 {
		t.Fatal("no gc completed during the imports")
	}
	if _, errb, err := d.try("verify"); err != nil {
		t.Fatalf("verify: %v\n%s", err, errb)
	}
	t.Logf("%d imports and activations during %d collections", len(ids), gcs.Load())
}
