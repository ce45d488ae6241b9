package cluster_test

import (
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/vfs-project/vfs/cluster/clustertest"
	"github.com/vfs-project/vfs/precompress"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// A release's variants travel with it: every member serves the same .br
// and .gz bytes with the same validators, and a member that pulled it
// compressed nothing (it copied the variants by hash and checked each by
// decompressing it).
func TestMembersServeIdenticalVariants(t *testing.T) {
	t.Parallel()
	f := New(t, 3, Options{})
	n1, n2, n3 := f.Node("n1"), f.Node("n2"), f.Node("n3")
	comp, _ := precompress.New(nil)
	counter := counting{comp, &atomic.Int64{}}
	n2.Local.Store().SetCompressor(counter)
	files := map[string]string{
		"index.html":        strings.Repeat("<p>variants</p>\n", 200),
		"assets/app-9f.js":  strings.Repeat("export const a = () => document.title.length;\n", 200),
		"assets/app-9f.css": strings.Repeat(".row { margin: 0 auto; }\n", 200),
	}
	id := n1.Import(t, files)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("n2: %s", n2.Log.String())
		}
	})
	release(t, n1, "current", id)
	AllServe(t, 20*time.Second, "current", id, n1, n2, n3)
	for p := range files {
		e, err := snapshot.Lookup(n1.Local.Store(), id, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, enc := range store.Encodings {
			want, ok, _ := n1.Local.Store().Variant(e.Ref, enc)
			if !ok {
				t.Fatalf("%s has no %s variant on n1", p, enc)
			}
			wrec, _ := n1.Local.Store().File(want)
			for _, n := range []*Node{n2, n3} {
				got, ok, err := n.Local.Store().Variant(e.Ref, enc)
				if !ok || err != nil || got != want {
					t.Errorf("%s %s on %s: %s %v %v; want n1's %s", p, enc, n.Name, got.Short(), ok, err, want.Short())
					continue
				}
				rec, err := n.Local.Store().File(got)
				if err != nil || rec.MTime != wrec.MTime || rec.Size != wrec.Size {
					t.Errorf("%s %s on %s: validator (%d, %d), n1's (%d, %d) (%v)", p, enc, n.Name, rec.Size, rec.MTime, wrec.Size, wrec.MTime, err)
				}
				if err := n.Local.Store().VerifyFile(got); err != nil {
					t.Errorf("%s %s on %s: %v", p, enc, n.Name, err)
				}
			}
		}
	}
	if n := counter.compressed.Load(); n != 0 {
		t.Errorf("n2 compressed %d times; the variants should have come with the release", n)
	}
}

// counting is a compressor that counts its compressions.
type counting struct {
	*precompress.Compressor
	compressed *atomic.Int64
}

func (c counting) Compress(enc store.Encoding, r io.Reader, size uint64) ([]byte, error) {
	c.compressed.Add(1)
	return c.Compressor.Compress(enc, r, size)
}
