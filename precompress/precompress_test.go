package precompress

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/vfs-project/vfs/store"
)

var text = []byte(strings.Repeat("function item(i) { return '<li class=\"row\">' + i + '</li>'; }\n", 400))

func TestCompressRoundTrips(t *testing.T) {
	c, _ := New(nil)
	for _, enc := range store.Encodings {
		v, err := c.Compress(enc, bytes.NewReader(text), uint64(len(text)))
		if err != nil || v == nil {
			t.Fatalf("%s: %v, %d bytes", enc, err, len(v))
		}
		if len(v) > len(text)/5 {
			t.Errorf("%s: %d bytes of %d: repetitive text should shrink more", enc, len(v), len(text))
		}
		var r io.Reader
		if enc == store.Gzip {
			if r, err = gzip.NewReader(bytes.NewReader(v)); err != nil {
				t.Fatal(err)
			}
		} else {
			r = brotli.NewReader(bytes.NewReader(v))
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, text) {
			t.Fatalf("%s: decompresses to %d other bytes (%v)", enc, len(got), err)
		}
		if err := c.Check(enc, bytes.NewReader(v), store.Sum(text), uint64(len(text))); err != nil {
			t.Errorf("%s: Check of a true variant: %v", enc, err)
		}
		// The same bytes every time: nodes that compress the same content
		// serve the same variant.
		again, _ := c.Compress(enc, bytes.NewReader(text), uint64(len(text)))
		if !bytes.Equal(again, v) {
			t.Errorf("%s: two compressions of one content differ", enc)
		}
	}
}

// Content that does not shrink by a tenth (random bytes under a .js name)
// gets no variant.
func TestIncompressibleGetsNone(t *testing.T) {
	c, _ := New(nil)
	noise := make([]byte, 64<<10)
	rand.Read(noise)
	for _, enc := range store.Encodings {
		v, err := c.Compress(enc, bytes.NewReader(noise), uint64(len(noise)))
		if err != nil || v != nil {
			t.Errorf("%s: %d bytes, %v; want none", enc, len(v), err)
		}
	}
}

// A variant that decompresses to other bytes, to more bytes (a bomb), or is
// not compressed at all, or has bytes after its stream, is refused.
func TestCheckRefusesLies(t *testing.T) {
	c, _ := New(nil)
	ref, size := store.Sum(text), uint64(len(text))
	other := append(bytes.Clone(text), 'x')
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	br := func(b []byte) []byte {
		var buf bytes.Buffer
		w := brotli.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	bomb := bytes.Repeat([]byte{0}, 4<<20)
	for name, c2 := range map[string]struct {
		enc store.Encoding
		v   []byte
	}{
		"gzip of other bytes":   {store.Gzip, gz(other)},
		"brotli of other bytes": {store.Brotli, br(other)},
		"gzip bomb":             {store.Gzip, gz(bomb)},
		"brotli bomb":           {store.Brotli, br(bomb)},
		"not gzip":              {store.Gzip, text},
		"not brotli":            {store.Brotli, text},
		"gzip, then junk":       {store.Gzip, append(gz(text), "junk"...)},
		"gzip as brotli":        {store.Brotli, gz(text)},
	} {
		if err := c.Check(c2.enc, bytes.NewReader(c2.v), ref, size); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestWants(t *testing.T) {
	c, _ := New(nil)
	for name, want := range map[string]bool{"app.js": true, "APP.JS": true, "style.css": true, "index.html": true,
		"logo.png": false, "font.woff2": false, "app.js.gz": false, "README": false} {
		if got := c.Wants(name, 4096); got != want {
			t.Errorf("Wants(%q) = %v, want %v", name, got, want)
		}
	}
	if c.Wants("app.js", MinSize-1) {
		t.Errorf("a file under MinSize is wanted")
	}
	only, err := New([]string{".txt"})
	if err != nil || only.Wants("app.js", 4096) || !only.Wants("notes.TXT", 4096) {
		t.Errorf("New([.txt]): %v", err)
	}
	for _, bad := range []string{"js", ".", ".a/b", ".tar.gz"} {
		if _, err := New([]string{bad}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("New([%q]): %v, want ErrInvalid", bad, err)
		}
	}
}

// docs/format.md lists every default extension with its MIME type, and no
// other.
func TestDocsListTheDefaultTypes(t *testing.T) {
	doc, err := os.ReadFile("../docs/format.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, ty := range DefaultExtensions {
		rows = append(rows, fmt.Sprintf("| `%s` | %s |", ty.Extension, ty.MIME))
	}
	want := strings.Join(rows, "\n")
	if !strings.Contains(string(doc), "| extension | MIME type |\n| --- | --- |\n"+want+"\n\n") {
		t.Errorf("docs/format.md, \"Variants\": the table of extensions should read\n%s", want)
	}
}
