package main

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

type showOptions struct{ classes bool }

func (o *showOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.classes, "classes", false, "list every file below PATH as asset or entry (see 'vfsctl classes')")
}

func showCommand(e *env) *command {
	o := &showOptions{}
	return &command{
		name: "snapshot show", args: "ID|LABEL [PATH]", nargs: [2]int{1, 2},
		summary: "show a snapshot, one of its directories, or one of its files",
		flags:   o.AddFlags,
		run:     func(e *env, args []string) error { return runShow(e, o, args) },
	}
}

func runShow(e *env, o *showOptions, args []string) error {
	st, id, err := e.resolve(args[0])
	if err != nil {
		return err
	}
	p := "/"
	if len(args) == 2 {
		p = args[1]
	}
	if o.classes {
		return showClasses(e, st, id, p)
	}
	ent, err := snapshot.Lookup(st, id, p)
	if err != nil {
		return err
	}
	switch ent.Kind {
	case store.KindDir:
		return showDir(e, st, id, p, ent)
	case store.KindFile:
		return showFile(e, st, ent)
	}
	if e.json {
		return e.printJSON(ent)
	}
	fmt.Fprintf(e.stdout, "symlink %s -> %s\n", printable(p), printable(ent.Target))
	return nil
}

func showDir(e *env, st ctl.API, id store.Ref, p string, ent store.Entry) error {
	t, err := st.Tree(ent.Ref)
	if err != nil {
		return err
	}
	if e.json {
		info, err := st.Snapshot(id)
		if err != nil {
			return err
		}
		out := map[string]any{"snapshot": info, "path": p, "entries": t.Entries}
		if p == "/" {
			sigs, err := st.Signatures(e.ctx, id)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if sigs == nil {
				sigs = []ctl.SignatureInfo{}
			}
			out["signatures"] = sigs
		}
		return e.printJSON(out)
	}
	if p == "/" {
		info, err := st.Snapshot(id)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "snapshot %s\ncreated  %s\nfiles    %s in %s, %s\n", id, info.Created.Local().Format(time.RFC3339), count(info.Files, "file"), count(info.Dirs, "directory", "directories"), size(info.Bytes))
		if len(info.Labels) > 0 {
			fmt.Fprintf(e.stdout, "labels   %s\n", strings.Join(info.Labels, ", "))
		}
		if info.Message != "" {
			fmt.Fprintf(e.stdout, "message  %s\n", printable(info.Message))
		}
		sigs, err := st.Signatures(e.ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) { // not found: a vfsd from before signatures
			return err
		}
		for _, s := range sigs {
			fmt.Fprintf(e.stdout, "signed   %s\n", describeSignature(s))
		}
		fmt.Fprintln(e.stdout)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, c := range t.Entries {
		name, hash := printable(c.Name), ""
		switch c.Kind {
		case store.KindDir:
			name += "/"
		case store.KindSymlink:
			name += " -> " + printable(c.Target)
		case store.KindFile:
			hash = c.Ref.Short()
		}
		sz := ""
		if c.Kind == store.KindFile {
			sz = size(c.Size)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", (c.Mode | kindMode(c.Kind)).String(), sz, hash, name)
	}
	return tw.Flush()
}

func showFile(e *env, st ctl.API, ent store.Entry) error {
	rec, err := st.File(ent.Ref)
	if err != nil {
		return err
	}
	if e.json {
		return e.printJSON(map[string]any{"entry": ent, "mtime": time.Unix(rec.MTime, 0).UTC(), "chunks": rec.Chunks})
	}
	fmt.Fprintf(e.stdout, "hash   %s\nsize   %s (%d bytes)\nmode   %s\nmtime  %s (owned by the content)\nchunks %d of up to %s\n",
		rec.Ref, size(rec.Size), rec.Size, ent.Mode, time.Unix(rec.MTime, 0).UTC().Format(time.RFC3339), len(rec.Chunks), size(uint64(rec.ChunkSize)))
	return nil
}

// kindMode gives listings ls's type letter.
func kindMode(k store.Kind) iofs.FileMode {
	switch k {
	case store.KindDir:
		return iofs.ModeDir
	case store.KindSymlink:
		return iofs.ModeSymlink
	}
	return 0
}

func sortStrings(s []string) { sort.Strings(s) }

// showClasses prints "asset" or "entry" for every file below p.
func showClasses(e *env, st ctl.API, id store.Ref, p string) error {
	classes, err := st.Classes(e.ctx)
	if err != nil {
		return err
	}
	ent, err := snapshot.Lookup(st, id, p)
	if err != nil {
		return err
	}
	base := "/" + strings.Trim(p, "/")
	if base == "/" {
		base = ""
	}
	type row struct {
		Path  string         `json:"path"`
		Class snapshot.Class `json:"class"`
	}
	var rows []row
	add := func(path string, e store.Entry) error {
		if e.Kind == store.KindFile {
			rows = append(rows, row{path, classes.Classify(path)})
		}
		return nil
	}
	if ent.Kind != store.KindDir {
		add(base, ent)
	} else if err := store.Walk(st, ent.Ref, func(sub string, e store.Entry) error { return add(base+sub, e) }, nil); err != nil {
		return err
	}
	if e.json {
		return e.printJSON(rows)
	}
	for _, r := range rows {
		fmt.Fprintf(e.stdout, "%-5s  %s\n", r.Class, printable(r.Path))
	}
	return nil
}

// describeSignature says in a line what a signature stands for.
func describeSignature(s ctl.SignatureInfo) string {
	switch {
	case s.Principal != "":
		return fmt.Sprintf("by %s (%s)", printable(s.Principal), s.Key)
	case s.Problem != "" && s.Key == "":
		return "unreadable: " + printable(s.Problem)
	case s.Problem != "":
		return fmt.Sprintf("with %s, not valid now: %s", s.Key, printable(s.Problem))
	}
	return "with " + s.Key + " (vfsd has no allowed signers to check it against)"
}
