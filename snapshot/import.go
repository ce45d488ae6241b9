package snapshot

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vfs-project/vfs/store"
	"github.com/zeebo/blake3"
)

// Target is where an import writes: a *store.Store, or vfsd through its
// control socket, in which case this process reads the files and the daemon
// receives only the chunks it lacks.
type Target interface {
	Begin() (store.Batch, error)
}

// ImportOptions configure an import.
type ImportOptions struct {
	Labels  []string
	Message string
	// SkipUnsupported skips what a snapshot cannot keep, with a warning,
	// instead of refusing the import.
	SkipUnsupported bool
	// Workers hash files in parallel; 0 means two per CPU (reads overlap).
	Workers int
	// Progress, if set, is called about every ProgressEvery during the
	// import and once at its end, from one goroutine at a time.
	Progress      func(Stats)
	ProgressEvery time.Duration
	// Skipped, if set, hears of each entry SkipUnsupported leaves out,
	// with the reason.
	Skipped func(path, why string)
	// Exclude are gitignore patterns of what to leave out, after
	// DefaultExcludes and the directory's .vfsignore (Filter).
	Exclude []string
	// Warned, if set, hears of entries imported that may be a mistake
	// (.env files, which usually hold secrets).
	Warned func(path, why string)
	// NoCompress makes no variants (.br, .gz) of the files new to the
	// store; by default the store's compressor, if it has one, does
	// at commit.
	NoCompress bool

	filter *Filter // a tar import's, made from Exclude
}

// Stats count an import's work. FilesTotal and BytesTotal are zero for a
// tar archive, whose size is known only at its end.
type Stats struct {
	FilesTotal  int64 `json:"files_total"`
	BytesTotal  int64 `json:"bytes_total"`
	Files       int64 `json:"files"`        // processed so far
	Bytes       int64 `json:"bytes"`        // processed so far
	FilesCached int64 `json:"files_cached"` // unchanged files the stat cache let us skip
	BytesRead   int64 `json:"bytes_read"`   // bytes actually read and hashed
	BytesNew    int64 `json:"bytes_new"`    // bytes of content the store did not hold
	Dirs        int64 `json:"dirs"`
	Symlinks    int64 `json:"symlinks"`
	Skipped     int64 `json:"skipped"`
	Excluded    int64 `json:"excluded"` // left out by the filter (a directory counts once)
	// Walking: the walk of the directory is still finding files, so the
	// totals are not final (files are hashed while it goes on).
	Walking bool `json:"walking"`
	// Committing: every file is in; the store checks the whole and
	// compresses the new text files, on every core.
	Committing bool `json:"committing"`
	// Compressed is what the commit compressed.
	Compressed store.VariantStats `json:"compressed"`
	Elapsed    time.Duration      `json:"-"`
}

// MarshalJSON writes elapsed as a duration string ("1.5s").
func (s Stats) MarshalJSON() ([]byte, error) {
	type plain Stats
	return json.Marshal(struct {
		plain
		Elapsed string `json:"elapsed"`
	}{plain(s), s.Elapsed.String()})
}

// Result is what an import made.
type Result struct {
	Snapshot store.SnapshotInfo
	Stats    Stats
}

// counters are updated by workers and read by the progress reporter.
type counters struct {
	filesTotal, bytesTotal, files, bytes, cached, read atomic.Int64
	walking                                            atomic.Bool
}

func (c *counters) snapshot(start time.Time) Stats {
	return Stats{
		FilesTotal: c.filesTotal.Load(), BytesTotal: c.bytesTotal.Load(),
		Files: c.files.Load(), Bytes: c.bytes.Load(),
		FilesCached: c.cached.Load(), BytesRead: c.read.Load(),
		Walking: c.walking.Load(), Elapsed: time.Since(start),
	}
}

// reportProgress calls o.Progress until stop is closed.
// startProgress runs reportProgress until the function it returns is
// called, which waits for it to end: no call of Progress comes after.
func (o *ImportOptions) startProgress(c *counters, start time.Time) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		o.reportProgress(c, start, quit)
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-done
	}
}

func (o *ImportOptions) reportProgress(c *counters, start time.Time, stop <-chan struct{}) {
	if o.Progress == nil {
		return
	}
	every := o.ProgressEvery
	if every <= 0 {
		every = 200 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			o.Progress(c.snapshot(start))
		}
	}
}

// secretWarning is what an import says of a .env file it imports.
const secretWarning = "may hold secrets, and the web server would serve it; add it to .vfsignore or pass --exclude to leave it out"

// check applies the filter to an entry about to be imported: whether it is
// left out (counted), and a warning for a name that usually holds secrets.
func (o *ImportOptions) check(f *Filter, stats *Stats, rel string, isDir bool) (excluded bool) {
	if f.Excluded(rel, isDir) {
		stats.Excluded++
		return true
	}
	if !isDir && secretLike(rel) && o.Warned != nil {
		o.Warned(rel, secretWarning)
	}
	return false
}

func (o *ImportOptions) skipped(path, why string) {
	if o.Skipped != nil {
		o.Skipped(path, why)
	}
}

// chunkBufs holds read buffers of one chunk. A fresh 256 KiB buffer per
// file cost a 100,000-file import most of its time in zeroing and garbage
// collection (a CPU profile: memclr 16%, GC scanning about a third), even
// for files of a few bytes. PutChunk copies what it keeps, so a buffer is
// reused once ingest returns.
var chunkBufs = sync.Pool{New: func() any { b := make([]byte, store.ChunkSize); return &b }}

// ingest reads r to its end, storing its chunks, and returns the file's
// content ref. size is what the caller expects to read: a
// different length is short (for a file: it changed under us).
func ingest(ctx context.Context, w store.Batch, r io.Reader, size int64, srcMTime int64, short error, c *counters) (store.Ref, error) {
	var chunks []store.Ref
	var h *blake3.Hasher
	if size > store.ChunkSize {
		h = blake3.New()
	}
	bp := chunkBufs.Get().(*[]byte)
	defer chunkBufs.Put(bp)
	buf := *bp
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return store.Ref{}, err
		}
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			ref, perr := w.PutChunk(buf[:n])
			if perr != nil {
				return ref, perr
			}
			chunks = append(chunks, ref)
			if h != nil {
				h.Write(buf[:n])
			}
			total += int64(n)
			c.read.Add(int64(n))
			c.bytes.Add(int64(n))
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return store.Ref{}, err
		}
	}
	if total != size {
		return store.Ref{}, fmt.Errorf("read %d bytes, expected %d: %w", total, size, short)
	}
	ref := store.Sum(nil)
	switch {
	case h != nil:
		ref = store.Ref(h.Sum(nil))
	case len(chunks) == 1:
		ref = chunks[0] // one chunk: the file's hash is the chunk's
	}
	return ref, w.PutFile(ref, uint64(size), srcMTime, chunks)
}

// Import imports a directory, or a tar archive (optionally gzip-compressed)
// named by path.
func Import(ctx context.Context, st Target, path string, o ImportOptions) (Result, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Result{}, fmt.Errorf("import %s: %w", path, err)
	}
	if fi.IsDir() {
		return ImportDir(ctx, st, path, o)
	}
	f, err := os.Open(path)
	if err != nil {
		return Result{}, fmt.Errorf("import %s: %w", path, err)
	}
	defer f.Close()
	return ImportTar(ctx, st, bufio.NewReaderSize(f, 1<<20), path, o)
}

// commit builds the trees and commits the batch, which makes the objects
// durable before the snapshot visible: the order that keeps a crash from
// exposing half a snapshot.
func commit(w store.Batch, root *node, src string, o *ImportOptions, stats *Stats) (store.SnapshotInfo, error) {
	ref, err := root.store(w, stats)
	if err != nil {
		w.Abort()
		return store.SnapshotInfo{}, err
	}
	if c, ok := w.(compressing); ok {
		c.SetCompress(!o.NoCompress)
	}
	if o.Progress != nil {
		st := *stats
		st.Committing = true
		o.Progress(st)
	}
	info, err := w.Commit(store.SnapshotInfo{
		ID: ref, Created: time.Now().UTC(), Labels: o.Labels, Message: o.Message, Source: src,
		Files: uint64(stats.Files), Dirs: uint64(stats.Dirs), Bytes: uint64(stats.Bytes),
	})
	if c, ok := w.(compressing); ok {
		stats.Compressed = c.VariantStats()
	}
	return info, err
}

// compressing is a Batch that makes variants at commit: a *store.Writer,
// and vfsd's import through the socket.
type compressing interface {
	SetCompress(on bool)
	VariantStats() store.VariantStats
}
