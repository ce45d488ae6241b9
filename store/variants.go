package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/zeebo/blake3"
)

// Variants. A variant is a content compressed with one encoding (gzip,
// brotli): the bytes a web server sends for app.js.gz or app.js.br. It is
// stored like any content, as chunks and a file record under the hash of
// its own bytes, with a validator (size, mtime) of its own; the variant
// index (key family 'e') maps (content, encoding) to it. The index also
// remembers a content that was compressed and did not pay (an empty
// value), so that no content is ever compressed twice in one store.
// Variants are not in any tree: a snapshot's id, diff and export are the
// same with and without them.

// An Encoding is how a variant is compressed. The numbers are stored.
type Encoding uint8

const (
	Gzip   Encoding = 1
	Brotli Encoding = 2
)

// Encodings are every encoding a variant can have, the one web servers
// prefer first.
var Encodings = []Encoding{Brotli, Gzip}

// String is the encoding's Content-Encoding token.
func (e Encoding) String() string {
	switch e {
	case Gzip:
		return "gzip"
	case Brotli:
		return "br"
	}
	return fmt.Sprintf("encoding(%d)", uint8(e))
}

// Suffix is what a variant's name adds to its file's: ".gz" or ".br", the
// names nginx's gzip_static and brotli_static and Caddy's precompressed
// look for.
func (e Encoding) Suffix() string {
	switch e {
	case Gzip:
		return ".gz"
	case Brotli:
		return ".br"
	}
	return ""
}

// Valid reports whether e is an encoding this store knows.
func (e Encoding) Valid() bool { return e == Gzip || e == Brotli }

// MarshalText spells an encoding as its token in JSON.
func (e Encoding) MarshalText() ([]byte, error) {
	if !e.Valid() {
		return nil, fmt.Errorf("encoding %d: %w", uint8(e), ErrInvalid)
	}
	return []byte(e.String()), nil
}

// UnmarshalText reads an encoding's token.
func (e *Encoding) UnmarshalText(b []byte) error {
	for _, c := range Encodings {
		if string(b) == c.String() {
			*e = c
			return nil
		}
	}
	return fmt.Errorf("encoding %q: not gzip or br: %w", b, ErrInvalid)
}

// VariantName splits a name such as app.js.gz into the file it is a
// variant of and its encoding; ok is false for any other name.
func VariantName(name string) (base string, enc Encoding, ok bool) {
	for _, e := range Encodings {
		if b, found := cutSuffix(name, e.Suffix()); found && b != "" {
			return b, e, true
		}
	}
	return "", 0, false
}

func cutSuffix(s, suffix string) (string, bool) {
	if len(s) < len(suffix) || s[len(s)-len(suffix):] != suffix {
		return s, false
	}
	return s[:len(s)-len(suffix)], true
}

// A Compressor makes and checks variants; package precompress has the one
// vfsd uses. The store calls it from an import's commit, on every core.
type Compressor interface {
	// Wants reports whether a file of this name (a base name) and size
	// is worth compressing: a text type, big enough.
	Wants(name string, size uint64) bool
	// Compress returns content compressed with enc, or nil when the
	// result does not pay for itself.
	Compress(enc Encoding, content io.Reader, size uint64) ([]byte, error)
	// Check decompresses variant and compares it with content (its hash
	// and size), with ErrInvalid when they differ.
	Check(enc Encoding, variant io.Reader, content Ref, size uint64) error
}

// SetCompressor sets the compressor the store's imports use; nil makes
// none. Set it before the first import.
func (s *Store) SetCompressor(c Compressor) {
	s.compressorMu.Lock()
	s.compressor = c
	s.compressorMu.Unlock()
}

func (s *Store) getCompressor() Compressor {
	s.compressorMu.Lock()
	defer s.compressorMu.Unlock()
	return s.compressor
}

// Variant returns the ref of content's variant in enc. ok is false when
// there is none: never made, or made and not kept because it did not pay.
func (s *Store) Variant(content Ref, enc Encoding) (ref Ref, ok bool, err error) {
	vi, found, err := s.variant(content, enc)
	return vi.Ref, found && !vi.None, err
}

// variant reads content's index entry for enc; found is false when there
// is none.
func (s *Store) variant(content Ref, enc Encoding) (vi VariantInfo, found bool, err error) {
	v, err := s.get(variantKey(content, enc))
	if isNotFound(err) {
		return vi, false, nil
	}
	if err != nil {
		return vi, false, fmt.Errorf("variant %s of %s: %w", enc, content.Short(), err)
	}
	vi = VariantInfo{Content: content, Encoding: enc, None: len(v) == 0}
	if !vi.None {
		if len(v) != RefSize {
			return vi, false, fmt.Errorf("variant %s of %s: %d-byte value: %w", enc, content.Short(), len(v), ErrCorrupt)
		}
		copy(vi.Ref[:], v)
	}
	return vi, true, nil
}

// A VariantInfo is one entry of the variant index: content's variant in
// Encoding, or None when it was made and did not pay.
type VariantInfo struct {
	Content  Ref      `json:"content"`
	Encoding Encoding `json:"encoding"`
	None     bool     `json:"none,omitempty"`
	Ref      Ref      `json:"ref"`
}

// Variants returns what the index holds of content: one entry per
// encoding it was compressed with.
func (s *Store) Variants(content Ref) ([]VariantInfo, error) {
	var out []VariantInfo
	for _, enc := range Encodings {
		vi, found, err := s.variant(content, enc)
		if err != nil {
			return nil, err
		}
		if found {
			out = append(out, vi)
		}
	}
	return out, nil
}

// A VariantRecord is one of a content's variants as nodes exchange them:
// its encoding and its file record, or None when the content was
// compressed with that encoding and the result did not pay.
type VariantRecord struct {
	Encoding Encoding    `json:"encoding"`
	None     bool        `json:"none,omitempty"`
	File     *FileRecord `json:"file,omitempty"`
}

// VariantStats count what a commit compressed.
type VariantStats struct {
	Files    int           `json:"files"`    // contents compressed
	Bytes    int64         `json:"bytes"`    // their size
	Variants int           `json:"variants"` // variants kept
	Saved    int64         `json:"saved"`    // bytes the kept variants save against their contents
	Workers  int           `json:"workers"`  // goroutines that compressed, one per core
	Elapsed  time.Duration `json:"elapsed"`  // a duration string in JSON ("1.5s")
}

type plainVariantStats VariantStats

// MarshalJSON writes elapsed as a duration string, as the API writes
// every duration.
func (v VariantStats) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		plainVariantStats
		Elapsed string `json:"elapsed"`
	}{plainVariantStats(v), v.Elapsed.String()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (v *VariantStats) UnmarshalJSON(b []byte) error {
	var w struct {
		plainVariantStats
		Elapsed string `json:"elapsed"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*v = VariantStats(w.plainVariantStats)
	if w.Elapsed != "" {
		d, err := time.ParseDuration(w.Elapsed)
		if err != nil {
			return fmt.Errorf("elapsed %q: %w", w.Elapsed, ErrInvalid)
		}
		v.Elapsed = d
	}
	return nil
}

// markVariants adds to files the variants of every content in files, and
// returns the index keys of those to drop: of contents GC sweeps, and of
// contents that every snapshot naming them has readable by their owner
// only (private: /a/ must not serve them compressed to anyone).
func (s *Store) markVariants(files, private map[Ref]bool) ([][]byte, error) {
	var dead [][]byte
	var keep []Ref
	err := s.scan(prefixVariant, func(k, v []byte) error {
		content, _, err := parseVariantKey(k)
		if err != nil {
			return err
		}
		if !files[content] || private[content] {
			dead = append(dead, append([]byte(nil), k...))
			return nil
		}
		if len(v) == RefSize {
			keep = append(keep, Ref(v))
		}
		return nil
	})
	for _, r := range keep {
		files[r] = true
	}
	return dead, err
}

// verifyVariants checks content's variants: each record's chunks against
// its hash, and, when the store has a compressor, that it decompresses to
// content.
func (s *Store) verifyVariants(content *FileRecord) error {
	vs, err := s.Variants(content.Ref)
	if err != nil {
		return err
	}
	c := s.getCompressor()
	for _, v := range vs {
		if v.None {
			continue
		}
		if c == nil {
			if err := s.VerifyFile(v.Ref); err != nil {
				return fmt.Errorf("variant %s: %w", v.Encoding, err)
			}
			continue
		}
		if err := s.checkVariant(c, v, content); err != nil {
			return fmt.Errorf("variant %s of %s: %w", v.Encoding, content.Ref.Short(), err)
		}
	}
	return nil
}

// checkVariant reads variant v once: its bytes against its own hash and
// size (as VerifyFile does), and what they decompress to against content.
func (s *Store) checkVariant(c Compressor, v VariantInfo, content *FileRecord) error {
	rec, err := s.File(v.Ref)
	if err != nil {
		return err
	}
	h := blake3.New()
	r := &countingReader{r: io.TeeReader(NewContentReader(s, rec), h)}
	if err := c.Check(v.Encoding, r, content.Ref, content.Size); err != nil {
		if errors.Is(err, ErrCorrupt) {
			return err
		}
		return fmt.Errorf("%v: %w", err, ErrCorrupt)
	}
	// What the decompressor left unread still counts toward the hash.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	if uint64(r.n) != rec.Size || Ref(h.Sum(nil)) != rec.Ref {
		return fmt.Errorf("content does not match its record: %w", ErrCorrupt)
	}
	return nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// variantsPresent reports whether every variant of content the index names
// has its record and chunks (the activation guard's check).
func (s *Store) variantsPresent(txn *badger.Txn, content Ref) error {
	for _, enc := range Encodings {
		item, err := txn.Get(variantKey(content, enc))
		if err == badger.ErrKeyNotFound {
			continue
		}
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		if len(v) == 0 {
			continue
		}
		if len(v) != RefSize {
			return fmt.Errorf("variant %s of %s: %w", enc, content.Short(), ErrCorrupt)
		}
		item, err = txn.Get(fileKey(Ref(v)))
		if err != nil {
			return fmt.Errorf("variant %s of %s: %w", enc, content.Short(), notFound(err))
		}
		data, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		rec, err := decodeFile(Ref(v), data)
		if err != nil {
			return err
		}
		for _, c := range rec.Chunks {
			if _, err := txn.Get(chunkKey(c)); err != nil {
				return fmt.Errorf("variant %s of %s: chunk %s: %w", enc, content.Short(), c.Short(), notFound(err))
			}
		}
	}
	return nil
}

// A ContentReader reads a stored content from its start, verifying each
// chunk as ReadAt does.
type ContentReader struct {
	r   Reader
	rec *FileRecord
	off int64
}

// NewContentReader reads rec's content from r.
func NewContentReader(r Reader, rec *FileRecord) *ContentReader {
	return &ContentReader{r: r, rec: rec}
}

func (c *ContentReader) Read(p []byte) (int, error) {
	if uint64(c.off) >= c.rec.Size {
		return 0, io.EOF
	}
	n, err := c.r.ReadAt(c.rec, p, c.off)
	c.off += int64(n)
	if err == nil && n == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	return n, err
}
