package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vfs-project/vfs/snapshot"
)

func exportCommand(e *env) *command {
	return &command{
		name: "snapshot export", args: "ID|LABEL DIR|FILE.tar|-", nargs: [2]int{2, 2},
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
	}
	if err := snapshot.ExportDir(st, id, dst); err != nil {
		return err
	}
	e.note("exported %s to %s", id.Short(), dst)
	return nil
}

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
