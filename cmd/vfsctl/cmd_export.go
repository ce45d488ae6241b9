package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/vfs-project/vfs/snapshot"
)

func exportCommand(e *env) *command {
	return &command{
		name: "snapshot export", args: "ID|LABEL DIR|FILE.tar|-", nargs: [2]int{2, 2},
		summary: "write a snapshot to a new directory or a tar archive ('-': standard output)",
		help:    "A target ending in .tar, or '-', gets a tar archive; anything else is a\ndirectory, which must not exist or be empty. Files keep their content mtimes.",
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
		return exportTarFile(e, id.Short(), dst, func(w *bufio.Writer) error { return snapshot.ExportTar(st, id, w) })
	}
	if err := snapshot.ExportDir(st, id, dst); err != nil {
		return err
	}
	e.note("exported %s to %s", id.Short(), dst)
	return nil
}

// exportTarFile writes through a temporary file renamed into place, so a
// failed export leaves no half archive under the name asked for.
func exportTarFile(e *env, id, dst string, write func(*bufio.Writer) error) error {
	tmp, err := os.CreateTemp(dirOf(dst), ".vfs-export-*")
	if err != nil {
		return fmt.Errorf("export to %s: %w", dst, err)
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
		return fmt.Errorf("export to %s: %w", dst, err)
	}
	e.note("wrote %s to %s", id, dst)
	return nil
}

func dirOf(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[:i+1]
	}
	return "."
}
