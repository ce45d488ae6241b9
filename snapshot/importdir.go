package snapshot

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/vfs-project/vfs/store"
	"golang.org/x/sync/errgroup"
)

// racyWindow is how recent an mtime must be for the stat cache to ignore it.
const racyWindow = 2 * time.Second

// fileJob is one regular file of a directory import.
type fileJob struct {
	abs  string
	rel  string
	info fs.FileInfo
	leaf *node
}

// ImportDir imports the tree below dir as a snapshot. Files are hashed in
// parallel; files whose size, mtime, ctime and inode match the stat cache
// and whose content is still stored are not read again.
func ImportDir(ctx context.Context, st Target, dir string, o ImportOptions) (Result, error) {
	start := time.Now()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Result{}, fmt.Errorf("import %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return Result{}, fmt.Errorf("import %s: %w", dir, err)
	}
	root := newDir("", fi.Mode())
	var stats Stats
	var c counters
	filter, err := NewFilter(abs, o.Exclude)
	if err != nil {
		return Result{}, fmt.Errorf("import %s: %w", dir, err)
	}
	w, err := st.Begin()
	if err != nil {
		return Result{}, fmt.Errorf("import %s: %w", dir, err)
	}
	stop := o.startProgress(&c, start)
	// The walk hands files over a batch at a time while it goes on: in
	// a re-import of a million unchanged files, walking and asking the
	// stat cache took about the same time, one after the other.
	scanCtx, cancelScan := context.WithCancel(ctx)
	jobs := make(chan []fileJob, askAhead)
	var scanErr error
	c.walking.Store(true)
	go func() {
		defer close(jobs)
		scanErr = scanDir(scanCtx, abs, root, filter, &o, &stats, &c, jobs)
		c.walking.Store(false)
	}()
	err = hashFiles(ctx, w, jobs, o.Workers, &c)
	cancelScan()
	for range jobs {
		// what the walk sent after a failure
	}
	if err == nil {
		err = scanErr
	}
	stop()
	if err != nil {
		w.Abort()
		return Result{}, fmt.Errorf("import %s: %w", dir, err)
	}
	stats.Files, stats.Bytes = c.files.Load(), c.bytes.Load()
	info, err := commit(w, root, abs, &o, &stats)
	if err != nil {
		return Result{}, fmt.Errorf("import %s: %w", dir, err)
	}
	s := c.snapshot(start)
	s.Dirs, s.Symlinks, s.Skipped, s.Excluded = stats.Dirs, stats.Symlinks, stats.Skipped, stats.Excluded
	s.BytesNew = w.NewBytes()
	s.Compressed = stats.Compressed
	if o.Progress != nil {
		o.Progress(s)
	}
	return Result{Snapshot: info, Stats: s}, nil
}

// scanDir walks abs without following symlinks, building the node tree
// and sending the files to hash in batches of cacheBatch. Hashers write
// only the entries of the leaves they are sent, which the walk has done
// with.
func scanDir(ctx context.Context, abs string, root *node, filter *Filter, o *ImportOptions, stats *Stats, c *counters, out chan<- []fileJob) error {
	var jobs []fileJob
	send := func() error {
		select {
		case out <- jobs:
			jobs = nil
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if len(jobs) >= cacheBatch {
			if err := send(); err != nil {
				return err
			}
		}
		if p == abs {
			return nil
		}
		rel, err := filepath.Rel(abs, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if o.check(filter, stats, rel, d.IsDir()) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if err := checkPath(rel); err != nil {
			if err := o.unsupported(stats, rel, err.Error()); err != nil || !d.IsDir() {
				return err
			}
			return fs.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := store.Entry{Mode: info.Mode().Perm()}
		switch t := info.Mode().Type(); {
		case t == 0:
			e.Kind, e.Size = store.KindFile, uint64(info.Size())
			c.filesTotal.Add(1)
			c.bytesTotal.Add(info.Size())
		case t == fs.ModeDir:
			e.Kind = store.KindDir
		case t == fs.ModeSymlink:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if !symlinkInside(rel, target) {
				return o.unsupported(stats, rel, fmt.Sprintf("symlink to %q leaves the tree", target))
			}
			e.Kind, e.Target = store.KindSymlink, target
			stats.Symlinks++
		default:
			err := o.unsupported(stats, rel, "not a regular file, directory or symlink ("+t.String()+")")
			if err == nil && t&fs.ModeDir != 0 {
				return fs.SkipDir
			}
			return err
		}
		leaf, err := root.put(rel, e)
		if err != nil {
			return err
		}
		if e.Kind == store.KindFile {
			jobs = append(jobs, fileJob{abs: p, rel: rel, info: info, leaf: leaf})
		}
		return nil
	})
	if err == nil && len(jobs) > 0 {
		err = send()
	}
	return err
}

// unsupported refuses an entry, or with SkipUnsupported counts it and
// returns nil so that the walk goes on without it.
func (o *ImportOptions) unsupported(stats *Stats, rel, why string) error {
	if !o.SkipUnsupported {
		return fmt.Errorf("%s: %s: %w (use --skip-unsupported to leave it out)", rel, why, ErrUnsupported)
	}
	o.skipped(rel, why)
	stats.Skipped++
	return nil
}

// cacheBatch is how many files one question to the stat cache covers:
// through vfsd's socket, one round trip per batch instead of per file.
const cacheBatch = 1024

// askAhead is how many stat cache batches are asked at once, ahead of the
// hashing: through vfsd's socket an answer takes a round trip, which the
// workers would otherwise wait for, and in a store an answer is CPU spent
// in Badger (half of re-importing a million unchanged files) that one
// goroutine left the other core idle for.
const askAhead = 2

// hashFiles stores every job's content, several files at a time, taking
// from the stat cache the refs of files unchanged since they were last
// imported. The cache is asked about the next batches while this one is
// hashed (askAhead).
func hashFiles(parent context.Context, w store.Batch, jobs <-chan []fileJob, workers int, c *counters) error {
	if workers <= 0 {
		workers = 2 * runtime.NumCPU()
	}
	g, ctx := errgroup.WithContext(parent)
	g.SetLimit(workers)
	type answer struct {
		part []fileJob
		q    []store.StatQuery
		refs []store.Ref
		err  error
	}
	// Answers arrive in order: each batch's own channel is queued before
	// it is asked, and at most askAhead are asked and not yet taken.
	answers := make(chan chan answer, askAhead-1)
	go func() {
		defer close(answers)
		for part := range jobs {
			a := answer{part: part}
			a.q = make([]store.StatQuery, len(a.part))
			for i := range a.part {
				a.q[i] = store.StatQuery{Path: a.part[i].abs, Stat: statOf(a.part[i].info)}
			}
			done := make(chan answer, 1)
			select {
			case answers <- done:
			case <-ctx.Done():
				return
			}
			go func() {
				a.refs, a.err = w.CachedRefs(a.q)
				done <- a
			}()
		}
	}()
	for next := range answers {
		a := <-next
		if a.err != nil {
			g.Wait()
			return a.err
		}
		for i := range a.part {
			j := &a.part[i]
			if !a.refs[i].IsZero() {
				j.leaf.entry.Ref = a.refs[i]
				c.cached.Add(1)
				c.bytes.Add(j.info.Size())
				c.files.Add(1)
				continue
			}
			key := a.q[i].Stat
			g.Go(func() error {
				if err := hashFile(ctx, w, j, key, c); err != nil {
					return fmt.Errorf("%s: %w", j.rel, err)
				}
				c.files.Add(1)
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return parent.Err()
}

// hashFile reads and stores one file whose stat cache entry missed.
func hashFile(ctx context.Context, w store.Batch, j *fileJob, key store.StatEntry, c *counters) error {
	f, err := os.Open(j.abs)
	if err != nil {
		return err
	}
	defer f.Close()
	ref, err := ingest(ctx, w, f, j.info.Size(), j.info.ModTime().Unix(), ErrChanged, c)
	if err != nil {
		return err
	}
	j.leaf.entry.Ref = ref
	if time.Since(j.info.ModTime()) < racyWindow {
		// Like git's racily clean entries: a write in the same timestamp
		// tick could leave the stat unchanged, so do not trust it later.
		return nil
	}
	key.Ref = ref
	return w.PutStat(j.abs, key)
}

// statOf extracts what the stat cache compares.
func statOf(info fs.FileInfo) store.StatEntry {
	e := store.StatEntry{Size: uint64(info.Size()), MTimeNs: info.ModTime().UnixNano()}
	if sys, ok := info.Sys().(*syscall.Stat_t); ok {
		e.CTimeNs = sys.Ctim.Sec*1e9 + sys.Ctim.Nsec
		e.Ino = sys.Ino
	}
	return e
}
