package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vfs-project/vfs/snapshot"
)

func exportCommand(e *env) *command {
	return &command{
		name: "snapshot export", noJSON: true, args: "ID|LABEL DIR|FILE.tar[.gz]|-", nargs: [2]int{2, 2},
		summary: "write a snapshot to a new directory or a tar archive ('-': standard output)",
		run:     runExport,
	}
}

func runExport(e *env, args []string) error {
	st, id, err := e.resolve(args[0])
	if err != nil {
		return err
	}
	dst := args[1]
	switch {
	case dst == "-":
		return snapshot.ExportTar(st, id, e.stdout)
	case strings.HasSuffix(dst, ".tar"):
		return writeFileAtomically(e, id.Short(), dst, func(w *bufio.Writer) error { return snapshot.ExportTar(st, id, w) })
	case strings.HasSuffix(dst, ".tar.gz"), strings.HasSuffix(dst, ".tgz"):
		return writeFileAtomically(e, id.Short(), dst, func(w *bufio.Writer) error {
			zw := gzip.NewWriter(w)
			if err := snapshot.ExportTar(st, id, zw); err != nil {
				return err
			}
			return zw.Close()
		})
	}
	// A name that looks like another kind of archive is a mistake, not
	// a directory to make.
	if ext := filepath.Ext(dst); archiveExt[ext] {
		return usageError{fmt.Sprintf("export to %s: %s archives are not written; give DIR, FILE.tar, FILE.tar.gz or -", dst, ext)}
	}
	if err := snapshot.ExportDir(st, id, dst); err != nil {
		return err
	}
	e.note("exported %s to %s", id.Short(), dst)
	return nil
}

// archiveExt are archive names export does not write.
var archiveExt = map[string]bool{".zip": true, ".gz": true, ".bz2": true, ".xz": true, ".zst": true, ".tbz2": true, ".txz": true, ".7z": true}

// writeFileAtomically writes what (a snapshot's tar, a backup) through a
// temporary file renamed into place, so a failure leaves nothing half
// written under the name asked for.
func writeFileAtomically(e *env, what, dst string, write func(*bufio.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".vfs-write-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 1<<20)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	e.note("wrote %s to %s", what, dst)
	return nil
}
