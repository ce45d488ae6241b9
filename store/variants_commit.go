package store

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// An import's variants: made at its commit for the contents it filed new,
// or sent by another node and checked (variants.go defines the words).

// SetCompress turns the making of variants at commit off (or back on) for
// this import: vfsctl import --no-compress.
func (w *Writer) SetCompress(on bool) {
	w.mu.Lock()
	w.noCompress = !on
	w.mu.Unlock()
}

// VariantStats is what the commit compressed (zero before it).
func (w *Writer) VariantStats() VariantStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.vstats
}

// PutVariant files a variant another node made: rec is its file record,
// whose chunks the import has (checked at commit against its hash, like
// every record), and the commit decompresses it and compares the result
// with content before it records the index entry; a variant that does not
// decompress to content fails the commit (ErrInvalid). A nil rec records
// that content was compressed with enc and the result did not pay.
func (w *Writer) PutVariant(content Ref, enc Encoding, rec *FileRecord) error {
	if !enc.Valid() {
		return fmt.Errorf("variant of %s: encoding %d: %w", content.Short(), uint8(enc), ErrInvalid)
	}
	if rec != nil {
		if err := w.PutFile(rec.Ref, rec.Size, rec.MTime, rec.Chunks); err != nil {
			return fmt.Errorf("variant %s of %s: %w", enc, content.Short(), err)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return ErrImportEnded
	}
	v := VariantInfo{Content: content, Encoding: enc, None: rec == nil}
	if rec != nil {
		v.Ref = rec.Ref
	}
	w.sent = append(w.sent, v)
	w.given[content] = true
	return nil
}

// MaxCompress bounds the size of a content the commit compresses, and so
// the memory and time each worker takes: brotli at quality 11 took 44 s
// and a peak RSS of 202 MiB for 13.6 MB of JavaScript here
// (BenchmarkLevels, docs/benchmarks.md),
// and a page's text files are far smaller.
const MaxCompress = 16 << 20

// variantJobs collects, during the commit's check of the tree, the files
// whose variants the commit makes: contents this import filed new, that
// no other node sent variants of, that the compressor wants (by name and
// size), and that the snapshot names readable by others (a variant is
// served by hash to anyone). Nil when the commit makes none.
type variantJobs struct {
	w      *Writer
	c      Compressor
	queued map[Ref]bool
	jobs   []variantJob
}

type variantJob struct {
	ref  Ref
	size uint64
}

func (w *Writer) variantJobs() *variantJobs {
	c := w.s.getCompressor()
	w.mu.Lock()
	off := w.noCompress || len(w.created) == 0
	w.mu.Unlock()
	if c == nil || off {
		return nil
	}
	return &variantJobs{w: w, c: c, queued: map[Ref]bool{}}
}

// note considers one file entry (the tree check's onFile).
func (v *variantJobs) note(e Entry) {
	if v == nil || v.queued[e.Ref] || e.Mode&readableByOthers == 0 || e.Size > MaxCompress {
		return
	}
	v.w.mu.Lock()
	_, created := v.w.created[e.Ref]
	given := v.w.given[e.Ref]
	v.w.mu.Unlock()
	if created && !given && v.c.Wants(e.Name, e.Size) {
		v.queued[e.Ref] = true
		v.jobs = append(v.jobs, variantJob{e.Ref, e.Size})
	}
}

// variants records the variants other nodes sent (PutVariant) once each
// checks out, then makes those of jobs on every core. It runs at commit
// before the snapshot record: a snapshot's variants exist before anything
// can serve it.
func (w *Writer) variants(v *variantJobs) error {
	if err := w.checkSent(); err != nil {
		return err
	}
	if v == nil || len(v.jobs) == 0 {
		return nil
	}
	c, jobs := v.c, v.jobs
	start := time.Now()
	// Biggest first, each worker taking the next: one big bundle among
	// many small files then costs about its own time, not its own plus
	// whatever a fixed share put behind it.
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].size > jobs[j].size })
	workers := min(runtime.GOMAXPROCS(0), len(jobs))
	wb := newBatch(w.s)
	var mu sync.Mutex
	var next atomic.Int64
	st := VariantStats{Workers: workers}
	g := errgroup.Group{}
	for range workers {
		g.Go(func() error {
			for j := int(next.Add(1) - 1); j < len(jobs); j = int(next.Add(1) - 1) {
				n, saved, err := w.compress(c, wb, jobs[j].ref)
				if err != nil {
					return err
				}
				mu.Lock()
				st.Files++
				st.Bytes += int64(jobs[j].size)
				st.Variants += n
				st.Saved += saved
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		wb.cancel()
		return fmt.Errorf("compress: %w", err)
	}
	if err := wb.flush(); err != nil {
		return fmt.Errorf("compress: %w", err)
	}
	st.Elapsed = time.Since(start)
	w.mu.Lock()
	w.vstats = st
	w.mu.Unlock()
	w.s.compressed.add(st)
	return w.s.Sync()
}

// compress makes content's variants in every encoding and files them in
// wb, returning how many it kept and the bytes they save.
func (w *Writer) compress(c Compressor, wb *batch, content Ref) (kept int, saved int64, err error) {
	defer func() {
		// The compressor is another library's code, run outside any
		// request's goroutine: a panic in it fails this import, not
		// the daemon.
		if p := recover(); p != nil {
			err = fmt.Errorf("compressing %s failed (%v); import with --no-compress to skip it", content.Short(), p)
		}
	}()
	rec, err := w.s.File(content)
	if err != nil {
		return 0, 0, err
	}
	// gzip first: it costs a fifteenth of brotli at quality 11, and a
	// content that gzip -9 cannot shrink by a tenth (binary bytes under
	// a text name) is not worth brotli's time either: none for both.
	paid := true
	for _, enc := range []Encoding{Gzip, Brotli} {
		var data []byte
		if paid {
			if data, err = c.Compress(enc, NewContentReader(w.s, rec), rec.Size); err != nil {
				return kept, saved, fmt.Errorf("%s %s: %w", enc, content.Short(), err)
			}
			paid = data != nil
		}
		if data == nil {
			if err := wb.set(variantKey(content, enc), nil); err != nil {
				return kept, saved, err
			}
			continue
		}
		if err := w.fileVariant(wb, rec, enc, data); err != nil {
			return kept, saved, err
		}
		kept++
		saved += int64(rec.Size) - int64(len(data))
	}
	return kept, saved, nil
}

// fileVariant stores a variant's chunks and record in wb, with a
// validator of its own starting at its content's mtime, and its index
// entry. The import owns what it stores until it ends, so GC keeps it.
func (w *Writer) fileVariant(wb *batch, content *FileRecord, enc Encoding, data []byte) error {
	ref := Sum(data)
	var chunks []Ref
	for off := 0; off < len(data); off += ChunkSize {
		part := data[off:min(off+ChunkSize, len(data))]
		c := Sum(part)
		w.mu.Lock()
		w.chunks[c] = int64(len(part))
		w.mu.Unlock()
		if err := wb.set(chunkKey(c), append([]byte(nil), part...)); err != nil {
			return err
		}
		chunks = append(chunks, c)
	}
	if old, err := w.s.File(ref); err == nil {
		// The same bytes are a variant of another content too (or a
		// file of some site): one record, one validator.
		w.mu.Lock()
		w.files[ref] = old.MTime
		w.mu.Unlock()
	} else if !isNotFound(err) {
		return err
	} else {
		m, err := w.s.imports.validator(w.s, w, ref, uint64(len(data)), content.MTime)
		if err != nil {
			return err
		}
		w.mu.Lock()
		w.files[ref] = m
		w.mu.Unlock()
		rec := &FileRecord{Ref: ref, Size: uint64(len(data)), MTime: m, ChunkSize: ChunkSize, Chunks: chunks}
		if err := putFileRecord(wb, rec); err != nil {
			return err
		}
	}
	return wb.set(variantKey(content.Ref, enc), append([]byte(nil), ref[:]...))
}

// checkSent checks each variant another node sent against its content by
// decompressing it, and records the index entries once all are true.
func (w *Writer) checkSent() error {
	w.mu.Lock()
	sent := w.sent
	w.mu.Unlock()
	if len(sent) == 0 {
		return nil
	}
	c := w.s.getCompressor()
	wb := newBatch(w.s)
	for _, v := range sent {
		if !v.None {
			if c == nil {
				continue // this store keeps no variants
			}
			content, err := w.s.File(v.Content)
			if err != nil {
				wb.cancel()
				return fmt.Errorf("variant %s of %s: content: %w", v.Encoding, v.Content.Short(), err)
			}
			rec, err := w.s.File(v.Ref)
			if err != nil {
				wb.cancel()
				return fmt.Errorf("variant %s of %s: %w", v.Encoding, v.Content.Short(), err)
			}
			if err := c.Check(v.Encoding, NewContentReader(w.s, rec), content.Ref, content.Size); err != nil {
				wb.cancel()
				return fmt.Errorf("variant %s of %s: %w", v.Encoding, v.Content.Short(), err)
			}
			if err := wb.set(variantKey(v.Content, v.Encoding), append([]byte(nil), v.Ref[:]...)); err != nil {
				wb.cancel()
				return err
			}
			continue
		}
		if err := wb.set(variantKey(v.Content, v.Encoding), nil); err != nil {
			wb.cancel()
			return err
		}
	}
	return wb.flush()
}

// compressedTotals add up what commits compressed.
type compressedTotals struct {
	files, bytes, variants, nanos atomic.Int64
}

func (c *compressedTotals) add(st VariantStats) {
	c.files.Add(int64(st.Files))
	c.bytes.Add(st.Bytes)
	c.variants.Add(int64(st.Variants))
	c.nanos.Add(int64(st.Elapsed) * int64(st.Workers))
}

// Compressed adds up what the commits since the store was opened
// compressed; Elapsed is the time of every worker added up (about the CPU
// time spent).
func (s *Store) Compressed() VariantStats {
	c := &s.compressed
	return VariantStats{Files: int(c.files.Load()), Bytes: c.bytes.Load(), Variants: int(c.variants.Load()),
		Elapsed: time.Duration(c.nanos.Load())}
}
