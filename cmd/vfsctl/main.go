// Command vfsctl manages a vfs store: it imports snapshots, activates them,
// and inspects and verifies what the store holds. docs/cli.md is its manual.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/spf13/pflag"
	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/snapshot"
)

// Exit codes, documented in docs/cli.md. Those an error kind maps to
// are in ctl.Kinds, the one table of kinds, HTTP statuses and exit codes.
const (
	exitOK    = 0
	exitError = ctl.ExitError
	exitUsage = 2
)

// A command is one vfsctl subcommand. Each lives in its own file with an
// options struct whose AddFlags binds its flags.
type command struct {
	name    string // as typed: "snapshot import"
	args    string // usage of the positional arguments
	summary string
	help    string                     // longer text shown by --help
	nargs   [2]int                     // minimum and maximum positional arguments (-1: any)
	flags   func(*pflag.FlagSet)       // binds the command's own flags
	run     func(*env, []string) error // runs it
}

func commands(e *env) []*command {
	return []*command{
		importCommand(e), listCommand(e), showCommand(e), diffCommand(e),
		exportCommand(e), rmCommand(e), activateCommand(e), rollbackCommand(e),
		statusCommand(e), logCommand(e), verifyCommand(e),
		pruneCommand(e), gcCommand(e), purgeCommand(e), classesCommand(e), labelCommand(e), configCommand(e),
		backupCommand(e), restoreCommand(e),
	}
}

// usageError is a mistake in how vfsctl was called (exit 2).
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, argv []string, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr}
	err := dispatch(e, argv)
	if e.api != nil {
		if cerr := e.api.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		return exitOK
	}
	if errors.Is(err, pflag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "vfsctl: %v\n", err)
	return exitCode(err)
}

// exitCode turns an error into a documented exit code: vfsctl's own
// cases here, the error kinds' through ctl.ExitCode.
func exitCode(err error) int {
	var u usageError
	switch {
	case errors.As(err, &u), errors.Is(err, snapshot.ErrBadTime):
		return exitUsage
	case errors.Is(err, fs.ErrNotExist):
		return ctl.ExitNotFound
	case errors.Is(err, errDamaged):
		return ctl.ExitDamaged
	}
	return ctl.ExitCode(err)
}

func dispatch(e *env, argv []string) error {
	cmds := commands(e)
	global := pflag.NewFlagSet("vfsctl", pflag.ContinueOnError)
	global.SetInterspersed(false)
	global.SetOutput(e.stderr)
	e.addGlobalFlags(global)
	global.Usage = func() { mainUsage(e.stderr, global, cmds) }
	if err := global.Parse(argv); err != nil {
		return flagError(err)
	}
	e.noteFlags(global)
	rest := global.Args()
	if len(rest) == 0 {
		mainUsage(e.stderr, global, cmds)
		return usageError{"no command given"}
	}
	cmd, args := findCommand(cmds, rest)
	if cmd == nil {
		return usageError{fmt.Sprintf("unknown command %q (see vfsctl --help)", strings.Join(rest, " "))}
	}
	flags := pflag.NewFlagSet("vfsctl "+cmd.name, pflag.ContinueOnError)
	flags.SetOutput(e.stderr)
	e.addGlobalFlags(flags) // global flags are accepted after the command too
	if cmd.flags != nil {
		cmd.flags(flags)
	}
	flags.Usage = func() { commandUsage(e.stderr, cmd, flags) }
	if err := flags.Parse(args); err != nil {
		return flagError(err)
	}
	e.noteFlags(flags)
	if n := flags.NArg(); n < cmd.nargs[0] || (cmd.nargs[1] >= 0 && n > cmd.nargs[1]) {
		commandUsage(e.stderr, cmd, flags)
		return usageError{fmt.Sprintf("%s: wrong number of arguments", cmd.name)}
	}
	return cmd.run(e, flags.Args())
}

func flagError(err error) error {
	if errors.Is(err, pflag.ErrHelp) {
		return err
	}
	return usageError{err.Error()}
}

// findCommand matches the longest command name at the start of words.
func findCommand(cmds []*command, words []string) (*command, []string) {
	for _, c := range cmds {
		parts := strings.Fields(c.name)
		if len(words) >= len(parts) && strings.Join(words[:len(parts)], " ") == c.name {
			return c, words[len(parts):]
		}
	}
	return nil, nil
}

func mainUsage(w io.Writer, global *pflag.FlagSet, cmds []*command) {
	fmt.Fprint(w, "Usage: vfsctl [global flags] COMMAND [flags] [args]\n\n")
	fmt.Fprint(w, "vfsctl manages a vfs store: versioned, content-addressed snapshots of a web\nserver's docroot, served by vfsd.\n\nCommands:\n")
	sorted := append([]*command(nil), cmds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	for _, c := range sorted {
		fmt.Fprintf(w, "  %-38s %s\n", c.name+" "+c.args, c.summary)
	}
	fmt.Fprint(w, "\nGlobal flags:\n", global.FlagUsages())
	fmt.Fprint(w, "\nExit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 store busy, 5 damage found,\n6 input refused.\nRun 'vfsctl COMMAND --help' for a command's flags; docs/cli.md has the manual.\n")
}

func commandUsage(w io.Writer, c *command, flags *pflag.FlagSet) {
	fmt.Fprintf(w, "Usage: vfsctl %s [flags] %s\n\n%s\n", c.name, c.args, c.summary)
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", c.help)
	}
	fmt.Fprint(w, "\nFlags:\n", flags.FlagUsages())
}
