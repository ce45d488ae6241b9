package snapshot

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/vfs-project/vfs/store"
)

// FileReader streams a stored file's content, verifying each chunk.
type FileReader struct {
	st  store.Reader
	rec *store.FileRecord
	off int64
}

// OpenFile returns a reader of the file whose content hashes to ref.
func OpenFile(st store.Reader, ref store.Ref) (*FileReader, error) {
	rec, err := st.File(ref)
	if err != nil {
		return nil, err
	}
	return &FileReader{st: st, rec: rec}, nil
}

// Record returns the file's record (size, mtime, chunks).
func (r *FileReader) Record() *store.FileRecord { return r.rec }

func (r *FileReader) Read(p []byte) (int, error) {
	if uint64(r.off) >= r.rec.Size {
		return 0, io.EOF
	}
	n, err := r.st.ReadAt(r.rec, p, r.off)
	r.off += int64(n)
	return n, err
}

// ExportDir writes snapshot id into dir, which must not exist or be empty.
// Files get their content mtimes, so a web server serving the export gives
// the same validators as one serving the mount. Every path is created
// through an os.Root opened on dir, which refuses to leave it (no "..", no
// symlink out), so even a tree written before validation existed cannot
// make export write elsewhere.
func ExportDir(st store.Reader, id store.Ref, dir string) error {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("export to %s: directory is not empty", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("export to %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("export to %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("export to %s: %w", dir, err)
	}
	defer root.Close()
	var dirs []string
	var modes []os.FileMode
	err = store.Walk(st, id, func(p string, e store.Entry) error {
		if err := store.CheckName(e.Name); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		rel := p[1:]
		switch e.Kind {
		case store.KindDir:
			dirs, modes = append(dirs, rel), append(modes, e.Mode)
			return root.Mkdir(rel, 0o700)
		case store.KindSymlink:
			return root.Symlink(e.Target, rel)
		}
		return exportFile(st, e, root, rel)
	}, nil)
	if err != nil {
		return fmt.Errorf("export %s to %s: %w", id.Short(), dir, err)
	}
	// Directory modes last, so a read-only directory can still be filled.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := root.Chmod(dirs[i], modes[i]); err != nil {
			return fmt.Errorf("export %s: %w", id.Short(), err)
		}
	}
	return nil
}

func exportFile(st store.Reader, e store.Entry, root *os.Root, rel string) error {
	r, err := OpenFile(st, e.Ref)
	if err != nil {
		return err
	}
	f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, e.Mode)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(f, r, make([]byte, store.ChunkSize)); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	mt := time.Unix(r.rec.MTime, 0)
	return root.Chtimes(rel, mt, mt)
}

// ExportTar writes snapshot id to w as a tar archive.
func ExportTar(st store.Reader, id store.Ref, w io.Writer) error {
	tw := tar.NewWriter(w)
	err := store.Walk(st, id, func(p string, e store.Entry) error {
		if err := store.CheckName(e.Name); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		h := &tar.Header{Name: p[1:], Mode: int64(e.Mode), Format: tar.FormatPAX}
		switch e.Kind {
		case store.KindDir:
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
			return tw.WriteHeader(h)
		case store.KindSymlink:
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.Target
			return tw.WriteHeader(h)
		}
		r, err := OpenFile(st, e.Ref)
		if err != nil {
			return err
		}
		h.Typeflag, h.Size, h.ModTime = tar.TypeReg, int64(e.Size), time.Unix(r.rec.MTime, 0)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err = io.CopyBuffer(tw, r, make([]byte, store.ChunkSize))
		return err
	}, nil)
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		return fmt.Errorf("export %s as tar: %w", id.Short(), err)
	}
	return nil
}
