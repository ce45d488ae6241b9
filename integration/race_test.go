package integration

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// 20 concurrent activations, 8 rounds: none fails (no Badger conflict
// reaches a user), and afterwards the mount serves exactly what the store's
// ref says.
func TestConcurrentActivationsAgree(t *testing.T) {
	d := startDaemon(t)
	var ids []string
	content := map[string]string{}
	for i := 0; i < 3; i++ {
		body := fmt.Sprintf("version %d", i)
		id := d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte(body)}))
		ids = append(ids, id)
		content[id] = body
	}
	for round := 0; round < 8; round++ {
		var wg sync.WaitGroup
		errs := make(chan string, 20)
		for g := 0; g < 20; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, errb, err := d.try("-q", "activate", ids[(g+round)%3]); err != nil {
					errs <- errb
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Errorf("round %d: an activation failed: %s", round, strings.TrimSpace(e))
		}
		cur := d.currentID(t)
		if got := readMount(t, d, "current/index.html"); got != content[cur] {
			t.Fatalf("round %d: the store says %s (%q), the mount serves %q", round, cur[:12], content[cur], got)
		}
	}
}
