package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/sign"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

type importOptions struct {
	labels   []string
	message  string
	activate bool
	ref      string
	reason   string
	skip     bool
	exclude  []string
	deploy   bool // vfsctl deploy: activate, then say what changed
	signKey  string
	noComp   bool
	cluster  activateOptions
}

func (o *importOptions) AddFlags(fs *pflag.FlagSet) { o.addFlags(fs, false) }

// addFlags binds the flags of snapshot import, or of deploy (which always
// activates, so has no --activate).
func (o *importOptions) addFlags(fs *pflag.FlagSet, deploy bool) {
	fs.StringArrayVar(&o.labels, "label", nil, "name the snapshot (repeatable); usable wherever an id is")
	fs.StringVar(&o.message, "message", "", "free text kept with the snapshot")
	if deploy {
		fs.StringVar(&o.ref, "ref", snapshot.DefaultRef, "ref to move; the mount serves 'current' at /current")
		fs.StringVar(&o.reason, "reason", "", "why, recorded in the activation log")
	} else {
		fs.BoolVar(&o.activate, "activate", false, "activate the snapshot on --ref once it is imported")
		fs.StringVar(&o.ref, "ref", snapshot.DefaultRef, "ref that --activate moves")
		fs.StringVar(&o.reason, "reason", "", "reason recorded in the activation log with --activate")
	}
	fs.StringArrayVar(&o.exclude, "exclude", nil, "leave out what this gitignore pattern matches (repeatable), after .git, .hg, .svn and the directory's .vfsignore")
	fs.StringVar(&o.signKey, "sign-key", "", "sign the snapshot with this ssh key before any activation (as snapshot sign --key: a private key file, or a .pub whose key the ssh-agent holds)")
	fs.BoolVar(&o.noComp, "no-compress", false, "make no .br and .gz variants of the text files new to the store (by default the commit compresses them on every core; vfsd --compress=false turns it off for every import)")
	fs.BoolVar(&o.skip, "skip-unsupported", false, "skip devices, fifos, sockets, escaping symlinks and unsafe tar paths with a warning instead of failing")
	o.cluster.addCluster(fs, "activate")
}

func importCommand(e *env) *command {
	o := &importOptions{}
	return &command{
		name: "snapshot import", args: "DIR|FILE.tar[.gz]|-", nargs: [2]int{1, 1},
		summary: "import a directory or tar archive as a snapshot",
		flags:   o.AddFlags,
		run:     func(e *env, args []string) error { return runImport(e, o, args[0]) },
	}
}

func runImport(e *env, o *importOptions, src string) error {
	// Checked now, not only at the commit after the whole import.
	for _, l := range o.labels {
		if err := store.CheckLabel(l); err != nil {
			return err
		}
	}
	e.create = true // the first import makes the store
	st, err := e.store()
	if err != nil {
		return err
	}
	if o.signKey != "" {
		// The key is found before the import, not after it.
		_, done, err := sign.LoadSigner(o.signKey)
		if err != nil {
			return err
		}
		done()
	}
	opts := snapshot.ImportOptions{Labels: o.labels, Message: o.message, SkipUnsupported: o.skip,
		Exclude: o.exclude, NoCompress: o.noComp,
		Skipped: func(path, why string) { fmt.Fprintf(e.stderr, "vfsctl: skipped %s: %s\n", path, why) },
		Warned:  func(path, why string) { fmt.Fprintf(e.stderr, "vfsctl: warning: %s %s\n", path, why) }}
	var bar *progress
	if !e.quiet {
		bar = newProgress(e.stderr)
		opts.Progress = bar.update
	}
	var res snapshot.Result
	if src == "-" {
		// A tar (gzip or not) on standard input: tar -C dist -c . | vfsctl deploy -
		res, err = snapshot.ImportTar(e.ctx, st, e.stdin, "standard input", opts)
	} else {
		res, err = snapshot.Import(e.ctx, st, src, opts)
	}
	if bar != nil {
		bar.done()
	}
	if err != nil && e.ctx.Err() != nil {
		// Nothing is recorded before the commit, and the commit is the
		// last step: an interrupted import leaves no snapshot.
		return fmt.Errorf("%w: nothing imported", ctl.ErrInterrupted)
	}
	if err != nil {
		return err
	}
	s := res.Stats
	left := ""
	if s.Excluded > 0 {
		left = fmt.Sprintf(", %d left out by .vfsignore or --exclude", s.Excluded)
	}
	shown := src
	if src == "-" {
		shown = "standard input"
	}
	e.note("imported %s: %s (%d unchanged since the last import), %s, %s (%s of it new to the store), %s read in %s%s",
		shown, count(s.Files, "file"), s.FilesCached, count(s.Dirs, "directory", "directories"), size(s.Bytes),
		size(s.BytesNew), size(s.BytesRead), s.Elapsed.Round(time.Millisecond), left)
	if c := s.Compressed; c.Files > 0 {
		e.note("compressed %s new to the store (%s) on %s in %s: %s kept, saving %s",
			count(int64(c.Files), "text file"), size(c.Bytes), count(int64(c.Workers), "core"), c.Elapsed.Round(time.Millisecond),
			count(int64(c.Variants), "variant"), size(c.Saved))
	}
	out := map[string]any{"snapshot": res.Snapshot, "stats": s}
	if o.signKey != "" {
		armored, err := signWith(o.signKey, res.Snapshot.ID)
		if err != nil {
			return fmt.Errorf("imported %s, not signed: %w", res.Snapshot.ID.Short(), err)
		}
		info, err := st.AddSignature(e.ctx, res.Snapshot.ID, armored)
		if err != nil {
			return fmt.Errorf("imported %s, not signed: %w", res.Snapshot.ID.Short(), err)
		}
		out["signature"] = info
		if !e.json {
			e.printSigned(res.Snapshot.ID, info)
		}
	}
	if o.activate && o.cluster.cluster {
		o.cluster.ref, o.cluster.reason = o.ref, o.reason
		if err := clusterActivate(e, st, &o.cluster, res.Snapshot.ID); err != nil {
			return err
		}
	} else if o.activate {
		setLocal(st, o.cluster.local)
		a, err := st.Activate(e.ctx, o.ref, res.Snapshot.ID, o.reason, false)
		if err != nil {
			return err
		}
		out["activation"] = a
		if o.deploy {
			changes := []snapshot.Change{}
			if !a.Unchanged { // from nothing, a ref's first: every path is added
				if changes, err = snapshot.Diff(st, a.From, a.To); err != nil {
					return err
				}
			}
			out["changes"] = changes
			e.note("%s: %s -> %s: %s", a.Ref, shortOrNone(a.From), a.To.Short(), summarize(changes, a.Unchanged))
		} else {
			e.note("%s: %s -> %s", a.Ref, shortOrNone(a.From), a.To.Short())
		}
		if err := hookFailures(a); err != nil {
			return err
		}
	}
	if e.json {
		return e.printJSON(out)
	}
	_, err = e.stdout.Write([]byte(res.Snapshot.ID.String() + "\n"))
	return err
}

func deployCommand(e *env) *command {
	o := &importOptions{}
	return &command{
		name: "deploy", args: "DIR|FILE.tar[.gz]|-", nargs: [2]int{1, 1},
		summary: "import and activate in one step, and say what changed",
		flags:   func(fs *pflag.FlagSet) { o.addFlags(fs, true) },
		run: func(e *env, args []string) error {
			o.activate, o.deploy = true, true
			return runImport(e, o, args[0])
		},
	}
}

// summarize counts a diff's changes in words.
func summarize(changes []snapshot.Change, unchanged bool) string {
	if unchanged {
		return "already served, nothing changed"
	}
	var added, removed, changed int
	for _, c := range changes {
		switch c.Op {
		case snapshot.Added:
			added++
		case snapshot.Removed:
			removed++
		default:
			changed++
		}
	}
	return fmt.Sprintf("%d added, %d removed, %d changed", added, removed, changed)
}
