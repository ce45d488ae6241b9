package ctl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/vfs-project/vfs/store"
)

// Reading bytes and objects: a file's content for vfsctl and curl, the
// store's backup, and the object endpoints the fleet's nodes use to copy
// what they lack from each other. Objects are addressed by hash, so a
// receiver checks each against its hash; the peer listener serves only
// these and snapshot records, read-only.

// ObjectKind names a kind of object on the wire.
type ObjectKind string

// Object kinds.
const (
	ObjectChunk ObjectKind = "chunk" // bytes whose BLAKE3 is the hash
	ObjectTree  ObjectKind = "tree"  // a tree's canonical encoding (docs/format.md), whose BLAKE3 is the hash
	ObjectFile  ObjectKind = "file"  // a file record as JSON; the hash is its content's, checked through its chunks
	// ObjectVariants: a content's variants as JSON ([]store.VariantRecord),
	// the hash the content's; each is checked by decompressing it.
	ObjectVariants ObjectKind = "variants"
)

func (k ObjectKind) valid() bool {
	return k == ObjectChunk || k == ObjectTree || k == ObjectFile || k == ObjectVariants
}

type (
	objectParam struct {
		Kind ObjectKind `path:"kind" json:"-"`
		Ref  store.Ref  `path:"ref" json:"-"`
	}
	// ObjectID names one object.
	ObjectID struct {
		Kind ObjectKind `json:"kind"`
		Ref  store.Ref  `json:"ref"`
	}
	fetchRequest struct {
		Objects []ObjectID `json:"objects"`
	}
)

// errPrivate: the peer listener refused a private content (a file no
// snapshot holds readable by others) to a client without a member's
// certificate.
var errPrivate = fmt.Errorf("private content (no snapshot holds it readable by others): served on the peer listener only to members with a certificate (vfsd --peer-tls-*, docs/cluster.md): %w", ErrForbidden)

// maxFetch bounds the objects of one fetch.
const maxFetch = 4096

var (
	opObject = rawOp(endpoint{Name: "Object", Method: "GET", Path: "/v1/objects/{kind}/{ref}", Timeout: quick, Peer: true,
		RespBody: "application/octet-stream (chunk, tree) or application/json (file, variants): the object, verified against its hash before it is sent (variants: a JSON list of {encoding, none, file}, a content's .br and .gz)",
		Doc:      "One object by kind (chunk, tree, file, variants) and hash."},
		reflect.TypeFor[objectParam](), serveObject)
	opFetch = rawOp(endpoint{Name: "Fetch objects", Method: "POST", Path: "/v1/objects/fetch", Timeout: long, Peer: true,
		RespBody: "application/octet-stream: for each object asked for, in order: its kind's first letter (c, t, f, v; x: not stored; p: private, not served without a member's certificate), its 32-byte hash, its length as an unsigned varint, then the object as GET /v1/objects/{kind}/{ref} sends it",
		Doc:      "Many objects in one response (at most 4096), for a node copying what it lacks."},
		reflect.TypeFor[fetchRequest](), serveFetch)
)

// readObject reads and verifies one object.
func readObject(st *store.Store, id ObjectID) ([]byte, error) {
	switch id.Kind {
	case ObjectChunk:
		return st.Chunk(id.Ref)
	case ObjectTree:
		t, err := st.Tree(id.Ref)
		if err != nil {
			return nil, err
		}
		return store.EncodeTree(t)
	case ObjectFile:
		f, err := st.File(id.Ref)
		if err != nil {
			return nil, err
		}
		return json.Marshal(f)
	case ObjectVariants:
		vs, err := st.Variants(id.Ref)
		if err != nil {
			return nil, err
		}
		out := []store.VariantRecord{}
		for _, v := range vs {
			o := store.VariantRecord{Encoding: v.Encoding, None: v.None}
			if !v.None {
				if o.File, err = st.File(v.Ref); isNotFound(err) {
					continue // swept meanwhile: as if never made
				} else if err != nil {
					return nil, err
				}
			}
			out = append(out, o)
		}
		return json.Marshal(out)
	}
	return nil, fmt.Errorf("object kind %q: not chunk, tree, file or variants: %w", id.Kind, store.ErrInvalid)
}

func serveObject(ctx context.Context, s *session, w http.ResponseWriter, r *http.Request) error {
	var p objectParam
	if err := decodeRequest(r, &p); err != nil {
		return err
	}
	if s.isPrivate(ObjectID{Kind: p.Kind, Ref: p.Ref}) {
		return fmt.Errorf("%s %s: %w", p.Kind, p.Ref.Short(), errPrivate)
	}
	b, err := readObject(s.local.st, ObjectID{Kind: p.Kind, Ref: p.Ref})
	if err != nil {
		return err
	}
	ct := "application/octet-stream"
	if p.Kind == ObjectFile {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
	return nil
}

func serveFetch(ctx context.Context, s *session, w http.ResponseWriter, r *http.Request) error {
	var req fetchRequest
	if err := decodeRequest(r, &req); err != nil {
		return err
	}
	if len(req.Objects) > maxFetch {
		return fmt.Errorf("fetch of %d objects; at most %d: %w", len(req.Objects), maxFetch, store.ErrInvalid)
	}
	for _, o := range req.Objects {
		if !o.Kind.valid() {
			return fmt.Errorf("object kind %q: not chunk, tree, file or variants: %w", o.Kind, store.ErrInvalid)
		}
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	started := false
	for _, o := range req.Objects {
		if err := ctx.Err(); err != nil {
			panic(http.ErrAbortHandler) // the caller went away
		}
		if s.isPrivate(o) {
			started = true
			w.Write(append(append([]byte("p"), o.Ref[:]...), 0))
			continue
		}
		b, err := readObject(s.local.st, o)
		tag := string(o.Kind)[:1]
		if err != nil {
			if !isNotFound(err) {
				if !started {
					return err
				}
				s.log.Error("fetch: object unreadable, hanging up", "kind", o.Kind, "ref", o.Ref, "err", err)
				panic(http.ErrAbortHandler)
			}
			tag, b = "x", nil
		}
		started = true
		hdr := append([]byte(tag), o.Ref[:]...)
		hdr = binary.AppendUvarint(hdr, uint64(len(b)))
		w.Write(hdr)
		w.Write(b)
	}
	if !started {
		w.WriteHeader(http.StatusOK)
	}
	return nil
}

func isNotFound(err error) bool { return KindOf(err).Err == store.ErrNotFound }

// maxContentPart bounds the bytes one ranged read of a file returns.
const maxContentPart = 4 << 20

// serveContent sends a file's bytes. Each part is read, and so verified,
// before it is sent: a damaged chunk gives an error, or, after the first
// byte of a whole-file answer, a hang-up; never wrong bytes.
func serveContent(ctx context.Context, s *session, w http.ResponseWriter, r *http.Request) error {
	var p refParam
	if err := decodeRequest(r, &p); err != nil {
		return err
	}
	f, err := s.local.File(p.Ref)
	if err != nil {
		return err
	}
	size := int64(f.Size)
	off, end, ranged, err := parseRange(r.Header.Get("Range"), size)
	if err != nil {
		w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		return err
	}
	if ranged && end-off > maxContentPart {
		end = off + maxContentPart
	}
	buf := make([]byte, min(end-off, maxContentPart))
	n, err := s.local.ReadAt(f, buf, off)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(end-off, 10))
	w.Header().Set("Accept-Ranges", "bytes")
	if ranged {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, end-1, size))
		w.WriteHeader(http.StatusPartialContent)
	}
	w.Write(buf[:n])
	for pos := off + int64(n); pos < end; pos += int64(n) {
		if n, err = s.local.ReadAt(f, buf[:min(end-pos, int64(len(buf)))], pos); err != nil || n == 0 {
			s.log.Error("file content: read failed after the first byte, hanging up", "ref", p.Ref, "err", err)
			panic(http.ErrAbortHandler)
		}
		w.Write(buf[:n])
	}
	return nil
}

// parseRange reads a single "bytes=a-b", "bytes=a-" or "bytes=-n"; none
// means the whole file.
func parseRange(h string, size int64) (off, end int64, ranged bool, err error) {
	if h == "" {
		return 0, size, false, nil
	}
	bad := fmt.Errorf("range %q of a %d-byte file: one range, bytes=FIRST-LAST: %w", h, size, store.ErrInvalid)
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, 0, false, bad
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, false, bad
	}
	switch {
	case a == "":
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false, bad
		}
		return max(size-n, 0), size, true, nil
	default:
		first, err := strconv.ParseInt(a, 10, 64)
		if err != nil || first < 0 || first >= size {
			return 0, 0, false, bad
		}
		last := size - 1
		if b != "" {
			if last, err = strconv.ParseInt(b, 10, 64); err != nil || last < first {
				return 0, 0, false, bad
			}
		}
		// min before +1: last may be the largest int64.
		return first, min(last, size-1) + 1, true, nil
	}
}

// serveBackup streams the store's backup; an error after the first byte
// goes in the trailer.
func serveBackup(ctx context.Context, s *session, w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Trailer", "Vfs-Error")
	s.log.Info("backup started", "uid", s.who.UID, "pid", s.who.PID)
	err := s.local.Backup(ctx, w)
	if err != nil {
		b, _ := json.Marshal(toAPIError(err))
		w.Header().Set("Vfs-Error", string(b))
		s.log.Warn("backup failed", "uid", s.who.UID, "err", err)
	}
	return nil
}

// fetch asks the peer for objects and calls fn with each one's bytes, in
// order; a missing object is ErrNotFound.
func (c *Client) fetch(ctx context.Context, ids []ObjectID, fn func(id ObjectID, data []byte) error) error {
	body, err := json.Marshal(fetchRequest{Objects: ids})
	if err != nil {
		return err
	}
	hdr := http.Header{"Content-Type": {"application/json"}}
	var limit int64
	for _, id := range ids {
		limit += 1 + store.RefSize + binary.MaxVarintLen64 + maxObjectLen(id.Kind)
	}
	resp, done, err := c.send(withAnswerLimit(ctx, limit), opFetch, nil, bytes.NewReader(body), hdr)
	if err != nil {
		return err
	}
	defer done()
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 1<<20)
	for _, want := range ids {
		var hdr [1 + store.RefSize]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return c.bodyError(ctx, opFetch, err)
		}
		var ref store.Ref
		copy(ref[:], hdr[1:])
		n, err := binary.ReadUvarint(br)
		if err != nil || n > uint64(maxObjectLen(want.Kind)) {
			return fmt.Errorf("fetch: object %s: bad length: %w", want.Ref.Short(), store.ErrCorrupt)
		}
		if ref != want.Ref || (hdr[0] != 'x' && hdr[0] != 'p' && hdr[0] != string(want.Kind)[0]) {
			return fmt.Errorf("fetch: the peer sent %c %s for %s %s: %w", hdr[0], ref.Short(), want.Kind, want.Ref.Short(), store.ErrCorrupt)
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(br, data); err != nil {
			return c.bodyError(ctx, opFetch, err)
		}
		if hdr[0] == 'p' {
			return fmt.Errorf("fetch: %s %s: %w", want.Kind, want.Ref.Short(), errPrivate)
		}
		if hdr[0] == 'x' {
			return fmt.Errorf("fetch: the peer has no %s %s: %w", want.Kind, want.Ref.Short(), store.ErrNotFound)
		}
		if err := fn(want, data); err != nil {
			return err
		}
	}
	return nil
}

// maxObjectLen is the most bytes one object of kind may hold on the wire.
func maxObjectLen(kind ObjectKind) int64 {
	if kind == ObjectChunk {
		return store.ChunkSize
	}
	return maxRecordLen
}

func objectIDs(kind ObjectKind, refs []store.Ref) []ObjectID {
	ids := make([]ObjectID, len(refs))
	for i, r := range refs {
		ids[i] = ObjectID{Kind: kind, Ref: r}
	}
	return ids
}

// FetchTrees fetches trees from the peer, each checked against its hash.
func (c *Client) FetchTrees(ctx context.Context, refs []store.Ref, fn func(store.Ref, *store.Tree) error) error {
	return c.fetch(ctx, objectIDs(ObjectTree, refs), func(id ObjectID, data []byte) error {
		if store.Sum(data) != id.Ref {
			return fmt.Errorf("tree %s from the peer does not match its hash: %w", id.Ref.Short(), store.ErrCorrupt)
		}
		t, err := store.DecodeTree(data)
		if err != nil {
			return fmt.Errorf("tree %s from the peer: %w", id.Ref.Short(), err)
		}
		return fn(id.Ref, t)
	})
}

// FetchFiles fetches file records; they are checked against their chunks
// by whoever commits them.
func (c *Client) FetchFiles(ctx context.Context, refs []store.Ref, fn func(*store.FileRecord) error) error {
	return c.fetch(ctx, objectIDs(ObjectFile, refs), func(id ObjectID, data []byte) error {
		var f store.FileRecord
		if err := json.Unmarshal(data, &f); err != nil || f.Ref != id.Ref {
			return fmt.Errorf("file record %s from the peer: %v: %w", id.Ref.Short(), err, store.ErrCorrupt)
		}
		return fn(&f)
	})
}

// FetchVariants fetches the variants of contents, calling fn once per
// content with what the peer has (nothing for a content it never
// compressed). The variants' records are checked by whoever commits them,
// against their chunks and by decompressing them. A peer too old to have
// variants gives errors.ErrUnsupported.
func (c *Client) FetchVariants(ctx context.Context, contents []store.Ref, fn func(content store.Ref, vs []store.VariantRecord) error) error {
	delivered := false
	err := c.fetch(ctx, objectIDs(ObjectVariants, contents), func(id ObjectID, data []byte) error {
		delivered = true
		var vs []store.VariantRecord
		if err := json.Unmarshal(data, &vs); err != nil || len(vs) > len(store.Encodings) {
			return fmt.Errorf("variants of %s from the peer: %v: %w", id.Ref.Short(), err, store.ErrCorrupt)
		}
		for _, v := range vs {
			if !v.Encoding.Valid() || v.None != (v.File == nil) {
				return fmt.Errorf("variants of %s from the peer: malformed: %w", id.Ref.Short(), store.ErrCorrupt)
			}
		}
		return fn(id.Ref, vs)
	})
	if err != nil && !delivered && KindOf(err).Err == store.ErrInvalid {
		return fmt.Errorf("the peer keeps no variants: %w", errors.ErrUnsupported)
	}
	return err
}

// FetchChunks fetches chunks, each checked against its hash.
func (c *Client) FetchChunks(ctx context.Context, refs []store.Ref, fn func(store.Ref, []byte) error) error {
	return c.fetch(ctx, objectIDs(ObjectChunk, refs), func(id ObjectID, data []byte) error {
		if store.Sum(data) != id.Ref {
			return fmt.Errorf("chunk %s from the peer does not match its hash: %w", id.Ref.Short(), store.ErrCorrupt)
		}
		return fn(id.Ref, data)
	})
}
