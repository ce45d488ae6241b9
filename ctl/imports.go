package ctl

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/vfs-project/vfs/store"
)

// Imports through the socket. The client walks and reads its own files;
// the daemon keeps one verifying writer per import, so a client can add
// only content whose bytes it sent or that the store already holds.
//
// An import is a handful of large requests, not one per object: the client
// asks the stat cache about many files at once (cached), asks which chunks
// the daemon lacks (want) before it sends big ones, sends chunks many to a
// request (chunks), and file records, trees and stat entries likewise
// (objects). Order between them does not matter: commit checks the whole.
//
// An import holds a lease: one that hears nothing for ImportLease is
// aborted. GC never waits for an import, but an open import keeps what it
// wrote alive; the lease bounds how long a silent client can do that.

// DefaultImportLease is how long an import may stay silent when
// Local.ImportLease is not set.
const DefaultImportLease = time.Minute

// maxImports bounds the imports open at once.
const maxImports = 16

// maxBatch bounds the entries of one cached, want or objects request.
const maxBatch = 1 << 16

type (
	importParam struct {
		ID string `path:"id" json:"-"`
	}
	// ImportStarted answers POST /v1/imports.
	ImportStarted struct {
		ID    string `json:"id"`
		Lease string `json:"lease"`
	}
	cachedRequest struct {
		ID      string            `path:"id" json:"-"`
		Queries []store.StatQuery `json:"queries"`
	}
	cachedAnswer struct {
		Refs []*store.Ref `json:"refs"` // null: not cached
	}
	wantRequest struct {
		ID     string      `path:"id" json:"-"`
		Chunks []store.Ref `json:"chunks"`
	}
	wantAnswer struct {
		Want []store.Ref `json:"want"`
	}
	// fileUpload is a file record as the client computed it; mtime is the
	// source file's, which the daemon may move to keep validators unique.
	fileUpload struct {
		Ref    store.Ref   `json:"ref"`
		Size   uint64      `json:"size"`
		MTime  int64       `json:"mtime"`
		Chunks []store.Ref `json:"chunks"`
	}
	objectsRequest struct {
		ID    string            `path:"id" json:"-"`
		Files []fileUpload      `json:"files"`
		Trees []store.Tree      `json:"trees"`
		Stats []store.StatQuery `json:"stats"`
	}
	objectsAnswer struct {
		Trees []store.Ref `json:"trees"` // each tree's hash, in order
	}
	chunksAnswer struct {
		Chunks   int   `json:"chunks"`
		Bytes    int64 `json:"bytes"`
		NewBytes int64 `json:"new_bytes"` // of those, bytes the store did not hold
	}
	// variantUpload is a variant another node made (vfsctl snapshot
	// pull copies them): its record, or none when the content was
	// compressed with the encoding and did not pay.
	variantUpload struct {
		Content  store.Ref      `json:"content"`
		Encoding store.Encoding `json:"encoding"`
		None     bool           `json:"none"`
		File     *fileUpload    `json:"file"`
	}
	variantsRequest struct {
		ID       string          `path:"id" json:"-"`
		Variants []variantUpload `json:"variants"`
	}
	commitRequest struct {
		Import string `path:"id" json:"-"`
		// NoCompress: make no variants (vfsctl import --no-compress).
		NoCompress bool `query:"no_compress" json:"-"`
		store.SnapshotInfo
	}
	// Committed answers a commit: the snapshot's record, as before
	// variants, with what the commit compressed (store/variants.go).
	Committed struct {
		store.SnapshotInfo
		Compressed store.VariantStats `json:"compressed"`
	}
)

var (
	opBegin = jsonOp(endpoint{Name: "Begin an import", Method: "POST", Path: "/v1/imports", Timeout: quick,
		Doc: "Opens an import and returns its id; the import is aborted if nothing is sent for its lease."},
		func(ctx context.Context, s *session, _ none) (ImportStarted, error) {
			id, err := s.srv.imports.begin(s)
			return ImportStarted{ID: id, Lease: s.srv.imports.lease.String()}, err
		})
	opCached = jsonOp(endpoint{Name: "Ask the stat cache", Method: "POST", Path: "/v1/imports/{id}/cached", Timeout: quick,
		Doc: "For each source path and its stat, the content it hashed to at the last import, if that content is still stored (null otherwise). Paths are the client's; they are kept per uid."},
		func(ctx context.Context, s *session, r cachedRequest) (cachedAnswer, error) {
			if len(r.Queries) > maxBatch {
				return cachedAnswer{}, tooMany(len(r.Queries))
			}
			var out cachedAnswer
			err := s.withImport(r.ID, func(w *store.Writer) error {
				q := make([]store.StatQuery, len(r.Queries))
				for i, x := range r.Queries {
					q[i] = store.StatQuery{Path: s.statPath(x.Path), Stat: x.Stat}
				}
				refs, err := w.CachedRefs(q)
				out.Refs = make([]*store.Ref, len(refs))
				for i := range refs {
					if !refs[i].IsZero() {
						out.Refs[i] = &refs[i]
					}
				}
				return err
			})
			return out, err
		})
	opWant = jsonOp(endpoint{Name: "Ask which chunks to send", Method: "POST", Path: "/v1/imports/{id}/want", Timeout: quick,
		Doc: "Of the chunk hashes offered, those the store lacks. The import relies on the others from then on (gc keeps them)."},
		func(ctx context.Context, s *session, r wantRequest) (wantAnswer, error) {
			if len(r.Chunks) > maxBatch {
				return wantAnswer{}, tooMany(len(r.Chunks))
			}
			out := wantAnswer{Want: []store.Ref{}}
			err := s.withImport(r.ID, func(w *store.Writer) error {
				have, err := w.HaveChunks(r.Chunks)
				for i, ok := range have {
					if !ok {
						out.Want = append(out.Want, r.Chunks[i])
					}
				}
				return err
			})
			return out, err
		})
	opChunks = rawOp(endpoint{Name: "Send chunks", Method: "POST", Path: "/v1/imports/{id}/chunks", Timeout: long,
		Resp:    reflect.TypeFor[chunksAnswer](),
		ReqBody: "application/octet-stream: chunks one after another, each its length as an unsigned varint (encoding/binary) then its bytes, at most 262144; the daemon hashes each itself",
		Doc:     "Stores chunks for the import."},
		reflect.TypeFor[importParam](), serveChunks)
	opObjects = jsonOp(endpoint{Name: "Send records", Method: "POST", Path: "/v1/imports/{id}/objects", Timeout: quick,
		ReqBody: "or, with Content-Type " + RecordsType + ", the same records in binary (ctl/records.go defines it), which is cheaper to decode (docs/benchmarks.md)",
		Doc:     "Stores file records (checked against their chunks at commit), trees (checked now) and stat cache entries."},
		func(ctx context.Context, s *session, r objectsRequest) (objectsAnswer, error) {
			if n := len(r.Files) + len(r.Trees) + len(r.Stats); n > maxBatch {
				return objectsAnswer{}, tooMany(n)
			}
			out := objectsAnswer{Trees: make([]store.Ref, 0, len(r.Trees))}
			err := s.withImportSerial(r.ID, func(w *store.Writer) error {
				for _, f := range r.Files {
					if err := w.PutFile(f.Ref, f.Size, f.MTime, f.Chunks); err != nil {
						return err
					}
				}
				for i := range r.Trees {
					ref, err := w.PutTree(&r.Trees[i])
					if err != nil {
						return err
					}
					out.Trees = append(out.Trees, ref)
				}
				for _, st := range r.Stats {
					if err := w.PutStat(s.statPath(st.Path), st.Stat); err != nil {
						return err
					}
				}
				return nil
			})
			return out, err
		})
	opVariants = jsonOp(endpoint{Name: "Send variants", Method: "POST", Path: "/v1/imports/{id}/variants", Timeout: quick,
		Doc: "Stores variants (.br, .gz) of contents that another node made, for a pull: each record is checked against its chunks at commit, and decompressed and compared with its content's hash, or the commit fails. A content with variants sent is not compressed again."},
		func(ctx context.Context, s *session, r variantsRequest) (none, error) {
			if len(r.Variants) > maxBatch {
				return none{}, tooMany(len(r.Variants))
			}
			for _, v := range r.Variants {
				if !v.Encoding.Valid() || v.None != (v.File == nil) {
					return none{}, fmt.Errorf("variant of %s: want an encoding and either none or a file: %w", v.Content.Short(), store.ErrInvalid)
				}
				if v.File != nil && uint64(len(v.File.Chunks)) != store.ChunksFor(v.File.Size) {
					return none{}, fmt.Errorf("variant of %s: %d chunks for %d bytes: %w", v.Content.Short(), len(v.File.Chunks), v.File.Size, store.ErrInvalid)
				}
			}
			return none{}, s.withImportSerial(r.ID, func(w *store.Writer) error {
				for _, v := range r.Variants {
					var rec *store.FileRecord
					if f := v.File; f != nil {
						rec = &store.FileRecord{Ref: f.Ref, Size: f.Size, MTime: f.MTime, ChunkSize: store.ChunkSize, Chunks: f.Chunks}
					}
					if err := w.PutVariant(v.Content, v.Encoding, rec); err != nil {
						return err
					}
				}
				return nil
			})
		})
	opCommit = jsonOp(endpoint{Name: "Commit an import", Method: "POST", Path: "/v1/imports/{id}/commit", Timeout: long,
		Doc: "Ends the import: checks every file record against its chunks, that everything the snapshot names is stored, and the tree's rules, makes the variants (.br, .gz) of the text files new to the store on every core unless no_compress is true or vfsd runs with --compress=false, then records the snapshot. The body is the snapshot's record (id is its root tree); the daemon sets created."},
		func(ctx context.Context, s *session, r commitRequest) (Committed, error) {
			w, err := s.srv.imports.take(r.Import, s.who.UID)
			if err != nil {
				return Committed{SnapshotInfo: r.SnapshotInfo}, err
			}
			// The daemon's clock, not the client's, dates the snapshot:
			// retention goes by it.
			r.SnapshotInfo.Created = time.Now().UTC()
			w.SetCompress(!r.NoCompress)
			out, err := w.Commit(r.SnapshotInfo)
			vs := w.VariantStats()
			if err == nil {
				s.log.Info("imported snapshot", "id", out.ID.Short(), "files", out.Files, "bytes", out.Bytes, "uid", s.who.UID,
					"compressed", vs.Files, "variants", vs.Variants, "compress_time", vs.Elapsed.Round(time.Millisecond))
			} else {
				s.log.Warn("import refused", "id", r.SnapshotInfo.ID.Short(), "uid", s.who.UID, "pid", s.who.PID, "err", err)
			}
			return Committed{SnapshotInfo: out, Compressed: vs}, err
		})
	opAbort = jsonOp(endpoint{Name: "Abort an import", Method: "DELETE", Path: "/v1/imports/{id}", Timeout: quick,
		Doc: "Drops the import; what it wrote is left for gc."},
		func(ctx context.Context, s *session, r importParam) (none, error) {
			w, err := s.srv.imports.take(r.ID, s.who.UID)
			if err == nil {
				w.Abort()
			}
			return none{}, err
		})
)

// MarshalJSON writes the snapshot's fields and compressed beside them
// (SnapshotInfo's own MarshalJSON would otherwise hide compressed).
func (c Committed) MarshalJSON() ([]byte, error) {
	info, err := json.Marshal(c.SnapshotInfo)
	if err != nil {
		return nil, err
	}
	vs, err := json.Marshal(c.Compressed)
	if err != nil {
		return nil, err
	}
	out := append(info[:len(info)-1], `,"compressed":`...)
	return append(append(out, vs...), '}'), nil
}

func tooMany(n int) error {
	return fmt.Errorf("%d entries in one request; at most %d: %w", n, maxBatch, store.ErrInvalid)
}

// statPath keys a client's stat cache entries by its uid: one user's
// claims about a path never answer another's.
func (s *session) statPath(p string) string {
	return "uid " + strconv.Itoa(s.who.UID) + ":" + p
}

// withImport runs fn on the caller's open import, holding its lease off.
func (s *session) withImport(id string, fn func(*store.Writer) error) error {
	imp, err := s.srv.imports.get(id, s.who.UID)
	if err != nil {
		return err
	}
	defer s.srv.imports.release(imp)
	return fn(imp.w)
}

// withImportSerial is withImport for work that one import does one request
// at a time: filing records takes a store-wide lock per file (the
// validator reservations), and two requests taking turns at it spent CPU
// spinning on that lock (CPU profiles of an import of 100,000 small files:
// the validator step took 2.4 s of the daemon's 6.4 s, against 1.0 s of a
// direct import's 7.6 s).
func (s *session) withImportSerial(id string, fn func(*store.Writer) error) error {
	imp, err := s.srv.imports.get(id, s.who.UID)
	if err != nil {
		return err
	}
	defer s.srv.imports.release(imp)
	imp.serial.Lock()
	defer imp.serial.Unlock()
	return fn(imp.w)
}

// serveChunks reads the chunk stream into the import. The import is held
// (its lease stopped) only while chunks already received are stored, not
// while the next one is awaited: a client that stops sending mid-body
// loses its import when the lease runs out, as a silent one does, and its
// request ends at the body's idle timeout (body.go). Holding it once per
// buffered run of chunks, not per chunk, keeps the cost of that off an
// import of many small files.
func serveChunks(ctx context.Context, s *session, w http.ResponseWriter, r *http.Request) error {
	var p importParam
	if err := decodeRequest(r, &p); err != nil {
		return err
	}
	if err := s.srv.imports.check(p.ID, s.who.UID); err != nil {
		return err
	}
	var ans chunksAnswer
	br := bufio.NewReaderSize(r.Body, 1<<20)
	bp := chunkBuf.Get().(*[]byte)
	defer chunkBuf.Put(bp)
	for {
		buf, err := readChunk(br, *bp, ans.Chunks)
		if err == io.EOF {
			break
		}
		if err != nil {
			return bodyError(r, err)
		}
		err = s.withImport(p.ID, func(wr *store.Writer) error {
			for {
				_, added, err := wr.AddChunk(buf)
				if err != nil {
					return err
				}
				if added {
					ans.NewBytes += int64(len(buf))
				}
				ans.Chunks++
				ans.Bytes += int64(len(buf))
				if !wholeChunkBuffered(br) {
					return nil
				}
				if buf, err = readChunk(br, *bp, ans.Chunks); err != nil {
					return err
				}
			}
		})
		if err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// readChunk reads chunk i of a chunk stream into buf (store.ChunkSize
// bytes) and returns it; io.EOF at the stream's clean end.
func readChunk(br *bufio.Reader, buf []byte, i int) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("chunk %d: length: %v: %w", i, err, store.ErrInvalid)
	}
	if n > store.ChunkSize {
		return nil, fmt.Errorf("chunk %d of %d bytes: at most %d: %w", i, n, store.ChunkSize, store.ErrInvalid)
	}
	if _, err := io.ReadFull(br, buf[:n]); err != nil {
		return nil, fmt.Errorf("chunk %d: %v: %w", i, err, store.ErrInvalid)
	}
	return buf[:n], nil
}

// wholeChunkBuffered reports whether br holds the next chunk whole, so
// that reading it cannot wait on the client.
func wholeChunkBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	n, k := binary.Uvarint(b)
	return k > 0 && uint64(len(b)-k) >= n
}

var chunkBuf = sync.Pool{New: func() any { b := make([]byte, store.ChunkSize); return &b }}

// imports are the imports open through the socket, each owned by the uid
// that began it.
type imports struct {
	lease time.Duration
	log   *slog.Logger

	mu    sync.Mutex
	open  map[string]*openImport
	ended map[string]string // why recently ended imports ended, bounded
}

type openImport struct {
	id    string
	uid   int
	pid   int
	w     *store.Writer
	timer *time.Timer
	users int // requests using it now; the lease does not run meanwhile
	// idle, once the import ended with requests still using it, is
	// closed when the last of them is done.
	idle chan struct{}
	// serial orders the requests that file records.
	serial sync.Mutex
}

// maxEnded bounds how many ended imports are remembered for their error
// message.
const maxEnded = 64

func newImports(lease time.Duration, log *slog.Logger) *imports {
	if lease <= 0 {
		lease = DefaultImportLease
	}
	return &imports{lease: lease, log: log, open: map[string]*openImport{}, ended: map[string]string{}}
}

func (im *imports) begin(s *session) (string, error) {
	b := make([]byte, 16)
	rand.Read(b)
	id := hex.EncodeToString(b)
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.open == nil {
		return "", fmt.Errorf("import: %w", ErrUnavailable)
	}
	if len(im.open) >= maxImports {
		return "", fmt.Errorf("%d imports are open; at most %d: %w", len(im.open), maxImports, store.ErrBusy)
	}
	imp := &openImport{id: id, uid: s.who.UID, pid: s.who.PID, w: s.local.st.NewVerifyingWriter()}
	imp.timer = time.AfterFunc(im.lease, func() { im.expire(imp) })
	im.open[id] = imp
	return id, nil
}

// lookup finds an open import of uid; the caller holds mu.
func (im *imports) lookup(id string, uid int) (*openImport, error) {
	imp, ok := im.open[id]
	if !ok || imp.uid != uid {
		if why, ok := im.ended[id]; ok {
			return nil, fmt.Errorf("import %s: %s: %w", id, why, store.ErrImportEnded)
		}
		return nil, fmt.Errorf("import %s: %w", id, store.ErrNotFound)
	}
	return imp, nil
}

// check reports whether id is an open import of uid.
func (im *imports) check(id string, uid int) error {
	im.mu.Lock()
	defer im.mu.Unlock()
	_, err := im.lookup(id, uid)
	return err
}

// get returns the import for a request and stops its lease until release.
func (im *imports) get(id string, uid int) (*openImport, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	imp, err := im.lookup(id, uid)
	if err != nil {
		return nil, err
	}
	imp.users++
	imp.timer.Stop()
	return imp, nil
}

func (im *imports) release(imp *openImport) {
	im.mu.Lock()
	defer im.mu.Unlock()
	imp.users--
	if imp.users == 0 && im.open[imp.id] == imp {
		imp.timer.Reset(im.lease)
	}
	if imp.users == 0 && imp.idle != nil {
		close(imp.idle)
		imp.idle = nil
	}
}

// take ends the import's registration, for commit and abort, and waits
// for the requests still using it: a commit must not flush the import's
// batch while a chunk is on its way into it. They are short (one chunk,
// one batch of records) and bounded by the body's idle timeout.
func (im *imports) take(id string, uid int) (*store.Writer, error) {
	im.mu.Lock()
	imp, err := im.lookup(id, uid)
	if err != nil {
		im.mu.Unlock()
		return nil, err
	}
	im.end(imp, "already committed or aborted")
	var idle chan struct{}
	if imp.users > 0 {
		idle = make(chan struct{})
		imp.idle = idle
	}
	im.mu.Unlock()
	if idle != nil {
		<-idle
	}
	return imp.w, nil
}

// end forgets imp; the caller holds mu.
func (im *imports) end(imp *openImport, why string) {
	imp.timer.Stop()
	delete(im.open, imp.id)
	if len(im.ended) >= maxEnded {
		clear(im.ended)
	}
	im.ended[imp.id] = why
}

// expire aborts an import whose lease ran out.
func (im *imports) expire(imp *openImport) {
	im.mu.Lock()
	if im.open[imp.id] != imp || imp.users > 0 {
		im.mu.Unlock()
		return
	}
	im.end(imp, fmt.Sprintf("aborted: nothing was sent for %s (vfsd --import-lease)", im.lease))
	im.mu.Unlock()
	imp.w.Abort()
	im.log.Warn("import aborted: the client sent nothing within its lease", "uid", imp.uid, "pid", imp.pid, "lease", im.lease)
}

// close aborts every open import, at shutdown.
func (im *imports) close() {
	im.mu.Lock()
	open := im.open
	im.open = nil
	im.mu.Unlock()
	for _, imp := range open {
		imp.timer.Stop()
		imp.w.Abort()
	}
}
