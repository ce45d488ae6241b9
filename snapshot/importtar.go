package snapshot

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/vfs-project/vfs/store"
)

// ImportTar imports a tar archive, gzip-compressed or not, read from r.
// name is only used in messages and the snapshot's source field. Members
// with absolute paths or ".." components, devices and fifos, and symlinks
// that leave the tree are refused (or skipped with SkipUnsupported).
func ImportTar(ctx context.Context, st Target, r io.Reader, name string, o ImportOptions) (Result, error) {
	start := time.Now()
	// An archive carries no .vfsignore of its own that we read first:
	// the defaults and Exclude apply.
	filter, err := NewFilter("", o.Exclude)
	if err != nil {
		return Result{}, fmt.Errorf("import %s: %w", name, err)
	}
	o.filter = filter
	br := bufio.NewReaderSize(r, 1<<16)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return Result{}, fmt.Errorf("import %s: %w", name, err)
		}
		defer zr.Close()
		src = zr
	}
	if err := looksLikeTar(&src); err != nil {
		return Result{}, fmt.Errorf("import %s: %w", name, err)
	}
	src = archiveReader{src}
	var stats Stats
	var c counters
	stop := o.startProgress(&c, start)
	w, err := st.Begin()
	if err != nil {
		stop()
		return Result{}, fmt.Errorf("import %s: %w", name, err)
	}
	root, err := readTar(ctx, tar.NewReader(src), w, &o, &stats, &c)
	if err == nil {
		err = drain(src)
	}
	stop()
	if err != nil {
		w.Abort()
		return Result{}, fmt.Errorf("import %s: %w", name, err)
	}
	stats.Files, stats.Bytes = c.files.Load(), c.bytes.Load()
	info, err := commit(w, root, name, &o, &stats)
	if err != nil {
		return Result{}, fmt.Errorf("import %s: %w", name, err)
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

// looksLikeTar refuses, before anything is written, a stream that is not a
// tar archive: its first block is neither the ustar magic of POSIX, pax and
// GNU archives, nor the zero block of an empty archive. Without it, a plain
// file named by mistake failed deep in archive/tar as "unexpected EOF".
func looksLikeTar(src *io.Reader) error {
	br := bufio.NewReaderSize(*src, 1<<16)
	*src = br
	block, _ := br.Peek(512)
	if len(block) == 512 && (string(block[257:262]) == "ustar" || bytes.Count(block, []byte{0}) == 512) {
		return nil
	}
	return fmt.Errorf("not a directory or tar archive (.tar or .tar.gz): %w", ErrUnsupported)
}

func readTar(ctx context.Context, tr *tar.Reader, w store.Batch, o *ImportOptions, stats *Stats, c *counters) (*node, error) {
	root := newDir("", 0o755)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return root, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read archive: %v: %w", err, ErrBadArchive)
		}
		if err := tarMember(ctx, tr, h, root, w, o, stats, c); err != nil {
			return nil, err
		}
	}
}

// archiveReader marks every read error of the archive's stream (a flate
// error, a short gzip stream) as ErrBadArchive, wherever it surfaces.
type archiveReader struct{ r io.Reader }

func (a archiveReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%v: %w", err, ErrBadArchive)
	}
	return n, err
}

// drain reads what follows the archive's end marker to the end of the
// stream: only there does gzip check its CRC and length, so a damaged
// compressed archive fails here rather than import wrong bytes.
func drain(src io.Reader) error {
	if _, err := io.Copy(io.Discard, src); err != nil {
		return fmt.Errorf("read archive: %w", err)
	}
	return nil
}

// tarMember adds one archive member to the tree.
func tarMember(ctx context.Context, tr *tar.Reader, h *tar.Header, root *node, w store.Batch, o *ImportOptions, stats *Stats, c *counters) error {
	rel, ok := cleanTarPath(h.Name)
	if !ok {
		return o.unsupported(stats, h.Name, "absolute path or \"..\" in archive member")
	}
	if rel != "." {
		if err := checkPath(rel); err != nil {
			return o.unsupported(stats, rel, err.Error())
		}
	}
	if rel == "." {
		if h.Typeflag == tar.TypeDir {
			root.entry.Mode = h.FileInfo().Mode().Perm()
		}
		return nil
	}
	if o.check(o.filter, stats, rel, h.Typeflag == tar.TypeDir) {
		return nil
	}
	e := store.Entry{Mode: h.FileInfo().Mode().Perm()}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
		ref, err := ingest(ctx, w, tr, h.Size, h.ModTime.Unix(), ErrBadArchive, c)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		e.Kind, e.Ref, e.Size = store.KindFile, ref, uint64(h.Size)
		c.files.Add(1)
	case tar.TypeDir:
		e.Kind = store.KindDir
	case tar.TypeSymlink:
		if !symlinkInside(rel, h.Linkname) {
			return o.unsupported(stats, rel, fmt.Sprintf("symlink to %q leaves the tree", h.Linkname))
		}
		e.Kind, e.Target = store.KindSymlink, h.Linkname
		stats.Symlinks++
	case tar.TypeLink:
		return hardLink(root, rel, h, o, stats, c)
	case tar.TypeXGlobalHeader:
		return nil
	default:
		return o.unsupported(stats, rel, fmt.Sprintf("archive member of type %q is not a regular file, directory or symlink", h.Typeflag))
	}
	_, err := root.put(rel, e)
	return err
}

// hardLink copies the entry of an earlier member, as extraction would.
func hardLink(root *node, rel string, h *tar.Header, o *ImportOptions, stats *Stats, c *counters) error {
	target, ok := cleanTarPath(h.Linkname)
	if !ok {
		return o.unsupported(stats, rel, fmt.Sprintf("hard link to %q leaves the tree", h.Linkname))
	}
	parent, err := root.dirAt(path.Dir(target))
	if err != nil {
		return err
	}
	t, ok := parent.children[path.Base(target)]
	if !ok || t.entry.Kind != store.KindFile {
		return o.unsupported(stats, rel, fmt.Sprintf("hard link to %q, which is not an earlier regular file", h.Linkname))
	}
	e := t.entry
	e.Mode = h.FileInfo().Mode().Perm()
	c.files.Add(1)
	c.bytes.Add(int64(e.Size))
	_, err = root.put(rel, e)
	return err
}

// cleanTarPath returns a member's path relative to the archive root, or
// false when it is absolute or climbs out with "..".
func cleanTarPath(name string) (string, bool) {
	if strings.HasPrefix(name, "/") {
		return "", false
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", false
		}
	}
	p := path.Clean(name)
	return p, p != ".."
}
