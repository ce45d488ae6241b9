// Package precompress makes and checks variants: a file's content
// compressed once, at import, with gzip at its maximum level and with
// brotli at quality 11, for web servers to send as they are (nginx's
// gzip_static and brotli_static, Caddy's precompressed, Apache's
// mod_rewrite recipe). The store keeps them (store/variants.go); this
// package decides which files get them and does the compressing.
//
// Words:
//
//   - Compressible: a file whose name ends in one of the configured
//     extensions (DefaultExtensions: text formats and wasm) and whose size is
//     at least MinSize. Images, video, fonts in woff/woff2 and archives are
//     compressed already and are left alone.
//   - Pays: a variant is kept only when it is at least a tenth smaller than
//     its content; otherwise the store notes that the content was tried, so
//     it is never compressed again.
package precompress

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/vfs-project/vfs/store"
	"github.com/zeebo/blake3"
)

// MinSize is the smallest content compressed: below a kilobyte the bytes
// saved are fewer than a packet's and a server's lookup of the sibling
// costs more than they save.
const MinSize = 1024

// BrotliQuality and GzipLevel are the levels used: the highest of each,
// since a content is compressed once and served many times.
const (
	BrotliQuality = 11
	GzipLevel     = gzip.BestCompression
)

// DefaultExtensions are the extensions compressed unless configured
// otherwise, each with the MIME type web servers give it: the text types
// of the web and WebAssembly.
var DefaultExtensions = []Type{
	{".html", "text/html"},
	{".htm", "text/html"},
	{".xhtml", "application/xhtml+xml"},
	{".css", "text/css"},
	{".js", "text/javascript"},
	{".mjs", "text/javascript"},
	{".cjs", "text/javascript"},
	{".json", "application/json"},
	{".webmanifest", "application/manifest+json"},
	{".map", "application/json"},
	{".svg", "image/svg+xml"},
	{".xml", "application/xml"},
	{".rss", "application/rss+xml"},
	{".atom", "application/atom+xml"},
	{".txt", "text/plain"},
	{".md", "text/markdown"},
	{".csv", "text/csv"},
	{".wasm", "application/wasm"},
	{".ico", "image/vnd.microsoft.icon"},
	{".ttf", "font/ttf"},
	{".otf", "font/otf"},
	{".eot", "application/vnd.ms-fontobject"},
}

// A Type is an extension compressed and its MIME type.
type Type struct {
	Extension string
	MIME      string
}

// Compressor is the store.Compressor vfsd uses.
type Compressor struct {
	exts map[string]bool
}

// New returns a Compressor for files with these extensions (".js"; case
// does not matter); nil takes DefaultExtensions.
func New(extensions []string) (*Compressor, error) {
	c := &Compressor{exts: map[string]bool{}}
	if extensions == nil {
		for _, t := range DefaultExtensions {
			c.exts[t.Extension] = true
		}
		return c, nil
	}
	for _, e := range extensions {
		if len(e) < 2 || e[0] != '.' || strings.ContainsAny(e[1:], "./\x00") {
			return nil, fmt.Errorf("compress extension %q: want a dot and a name, such as .js: %w", e, store.ErrInvalid)
		}
		c.exts[strings.ToLower(e)] = true
	}
	return c, nil
}

// Extensions lists the extensions c compresses, sorted.
func (c *Compressor) Extensions() []string {
	var out []string
	for e := range c.exts {
		out = append(out, e)
	}
	slices.Sort(out)
	return out
}

// Wants reports whether a file called name (a base name) of this size is
// compressible.
func (c *Compressor) Wants(name string, size uint64) bool {
	return size >= MinSize && c.exts[strings.ToLower(path.Ext(name))]
}

// errDoesNotPay stops a compression as soon as its output passes the size
// that would be kept.
var errDoesNotPay = errors.New("does not pay")

// capped is a buffer that refuses to grow past max.
type capped struct {
	bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if c.Len()+len(p) > c.max {
		return 0, errDoesNotPay
	}
	return c.Buffer.Write(p)
}

// Compress returns content (size bytes) compressed with enc, or nil when
// the result is not at least a tenth smaller. The output depends only on
// the content and this package's version: gzip's header has no name and
// no time, so every node makes the same bytes.
func (c *Compressor) Compress(enc store.Encoding, content io.Reader, size uint64) ([]byte, error) {
	out := &capped{max: int(size - size/10)}
	var w io.WriteCloser
	switch enc {
	case store.Gzip:
		gz, err := gzip.NewWriterLevel(out, GzipLevel)
		if err != nil {
			return nil, err
		}
		w = gz
	case store.Brotli:
		w = brotli.NewWriterLevel(out, BrotliQuality)
	default:
		return nil, fmt.Errorf("compress: encoding %d: %w", uint8(enc), store.ErrInvalid)
	}
	_, err := io.Copy(w, content)
	if err == nil {
		err = w.Close()
	}
	if errors.Is(err, errDoesNotPay) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Check decompresses variant with enc and compares what comes out with
// content: its size and its BLAKE3 hash. It reads at most size+1 bytes of
// output, so a variant that would decompress to more (a bomb) costs no
// more than a true one. A mismatch, or bytes that do not decompress, is
// ErrInvalid.
func (c *Compressor) Check(enc store.Encoding, variant io.Reader, content store.Ref, size uint64) error {
	var r io.Reader
	in := bufio.NewReader(variant) // gzip reads no further than its stream from a ByteReader
	switch enc {
	case store.Gzip:
		gz, err := gzip.NewReader(in)
		if err != nil {
			return fmt.Errorf("gzip: %v: %w", err, store.ErrInvalid)
		}
		gz.Multistream(false)
		r = gz
	case store.Brotli:
		r = brotli.NewReader(in)
	default:
		return fmt.Errorf("check: encoding %d: %w", uint8(enc), store.ErrInvalid)
	}
	h := blake3.New()
	n, err := io.Copy(h, io.LimitReader(r, int64(size)+1))
	if err != nil {
		if errors.Is(err, store.ErrCorrupt) {
			return err
		}
		return fmt.Errorf("%s: %v: %w", enc, err, store.ErrInvalid)
	}
	if uint64(n) != size || store.Ref(h.Sum(nil)) != content {
		return fmt.Errorf("%s: decompresses to other bytes than content %s: %w", enc, content.Short(), store.ErrInvalid)
	}
	// Nothing may follow a gzip stream (a second member would be
	// ignored above): browsers differ on what they make of trailing bytes.
	if enc == store.Gzip {
		if _, err := in.ReadByte(); err != io.EOF {
			return fmt.Errorf("%s: bytes after the stream: %w", enc, store.ErrInvalid)
		}
	}
	return nil
}

var _ store.Compressor = (*Compressor)(nil)
