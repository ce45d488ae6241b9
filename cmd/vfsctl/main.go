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
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/vfs-project/vfs/cmd/internal/version"
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
	help    string                     // longer text (helptext.go), shown by --help
	nargs   [2]int                     // minimum and maximum positional arguments (-1: any)
	flags   func(*pflag.FlagSet)       // binds the command's own flags
	noJSON  bool                       // prints no JSON: --json is refused
	run     func(*env, []string) error // runs it
}

func commands(e *env) []*command {
	cmds := []*command{
		importCommand(e), deployCommand(e), pullCommand(e), listCommand(e), showCommand(e), diffCommand(e),
		exportCommand(e), rmCommand(e), activateCommand(e), rollbackCommand(e),
		statusCommand(e), logCommand(e), verifyCommand(e),
		pruneCommand(e), gcCommand(e), purgeCommand(e), classesCommand(e), labelCommand(e), unlabelCommand(e), signCommand(e), pinCommand(e, true), pinCommand(e, false), configCommand(e),
		backupCommand(e), restoreCommand(e), clusterStatusCommand(e),
		clusterEvictCommand(e), clusterAdmitCommand(e), clusterLogCommand(e), dialStdioCommand(e),
		refListCommand(e), refRmCommand(e),
	}
	for _, c := range cmds {
		c.help = helpText[c.name]
	}
	return cmds
}

// usageError is a mistake in how vfsctl was called (exit 2).
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopProfile := startProfile(os.Getenv("VFS_CPUPROFILE"))
	code := runIn(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stopProfile()
	os.Exit(code)
}

// startProfile writes a CPU profile of the whole command to path, if set:
// how docs/benchmarks.md profiles a direct import. It returns the stop.
func startProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "vfsctl: VFS_CPUPROFILE: %v\n", err)
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

func run(ctx context.Context, argv []string, stdout, stderr io.Writer) int {
	return runIn(ctx, argv, strings.NewReader(""), stdout, stderr)
}

// runIn runs vfsctl with argv and its standard streams.
func runIn(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	root := rootCommand(e)
	root.SetArgs(argv)
	_, err := root.ExecuteC()
	if e.api != nil {
		if cerr := e.api.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		return exitOK
	}
	// cobra's own errors for an unknown command carry its suggestions.
	if strings.HasPrefix(err.Error(), "unknown command") {
		err = usageError{strings.TrimSpace(err.Error()) + "\n(vfsctl help lists the commands)"}
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

// rootLong is vfsctl's own help, before the list of commands.
const rootLong = `vfsctl manages a vfs store: versioned, content-addressed snapshots of a web
server's docroot, served by vfsd. It talks to vfsd through its control socket, or
opens a store directly when no vfsd runs.

Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 store busy, 5 damage found,
6 input refused. docs/cli.md is the manual; 'vfsctl help COMMAND' shows one command.`

// rootCommand builds the command tree from the table in commands: one
// cobra command per entry, under a group command for the first word of
// two-word names ("snapshot import"). cobra gives help for every command
// and group, suggestions for typos, and completions; man pages and the
// reference in docs/cli.md are generated from the same tree.
func rootCommand(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:           "vfsctl",
		Short:         "manage a vfs store: import, activate, inspect and verify snapshots",
		Long:          rootLong,
		Version:       version.String(),
		SilenceErrors: true,
		SilenceUsage:  true,
		// A bare "vfsctl" prints the help and is a usage error.
		RunE: func(c *cobra.Command, args []string) error {
			c.Help()
			return usageError{"no command given"}
		},
	}
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetVersionTemplate("vfsctl {{.Version}}\n")
	root.SuggestionsMinimumDistance = 2
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Sprintf("%s: %v (vfsctl %s --help lists its flags)", c.CommandPath(), err, c.Name())}
	})
	e.addGlobalFlags(root.PersistentFlags())
	root.PersistentPreRunE = func(c *cobra.Command, args []string) error {
		e.noteFlags(c.Flags())
		return nil
	}
	groups := map[string]*cobra.Command{}
	for _, cmd := range commands(e) {
		parent, name := root, cmd.name
		if group, rest, ok := strings.Cut(cmd.name, " "); ok {
			if groups[group] == nil {
				groups[group] = &cobra.Command{Use: group, Short: groupSummary[group], SuggestionsMinimumDistance: 2,
					Args: unknownSubcommand, RunE: func(c *cobra.Command, _ []string) error { return c.Help() }}
				root.AddCommand(groups[group])
			}
			parent, name = groups[group], rest
		}
		parent.AddCommand(cobraCommand(e, cmd, name))
	}
	root.AddCommand(versionCommand(e), manCommand())
	return root
}

// unknownSubcommand refuses words after a group command that name none of
// its subcommands, suggesting the nearest.
func unknownSubcommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return usageError{msg}
}

// groupSummary describes the group commands.
var groupSummary = map[string]string{
	"cluster":  "the fleet vfsd belongs to (docs/cluster.md)",
	"ref":      "list and remove refs (current, canary, previews)",
	"snapshot": "import, list, show, compare, export, label, prune and remove snapshots",
}

func cobraCommand(e *env, cmd *command, name string) *cobra.Command {
	use := name
	if cmd.args != "" {
		use += " " + cmd.args
	}
	long := cmd.summary
	if cmd.help != "" {
		long += "\n\n" + cmd.help
	}
	c := &cobra.Command{
		Use:   use,
		Short: cmd.summary,
		Long:  long,
		Args: func(c *cobra.Command, args []string) error {
			if n := len(args); n < cmd.nargs[0] || (cmd.nargs[1] >= 0 && n > cmd.nargs[1]) {
				return usageError{fmt.Sprintf("%s: wrong number of arguments (usage: %s)", cmd.name, c.UseLine())}
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			if cmd.noJSON && e.json {
				return usageError{fmt.Sprintf("%s prints no JSON: leave out --json", cmd.name)}
			}
			return cmd.run(e, args)
		},
	}
	if strings.Contains(cmd.args, "ID") {
		c.ValidArgsFunction = e.completeSnapshots
	}
	if cmd.flags != nil {
		cmd.flags(c.Flags())
	}
	return c
}

// completeSnapshots offers labels, ref names and short ids for an ID
// argument, asking the store or vfsd as the command itself would.
func (e *env) completeSnapshots(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	e.noteFlags(c.Flags())
	api, err := e.store()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	add := func(word, what string) {
		if strings.HasPrefix(word, toComplete) {
			out = append(out, cobra.CompletionWithDesc(word, what))
		}
	}
	if refs, err := api.NamedRefs(); err == nil {
		for name, id := range refs {
			add(name, "ref, now "+id.Short())
		}
	}
	if all, err := api.Snapshots(); err == nil {
		for _, s := range all {
			for _, l := range s.Labels {
				add(l, "label of "+s.ID.Short())
			}
			add(s.ID.Short(), "created "+s.Created.Local().Format("2006-01-02 15:04"))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func versionCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print vfsctl's version, and vfsd's when it answers",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			out := map[string]string{"vfsctl": version.String()}
			if socket, _, err := e.target(); err == nil && socket != "" {
				if client, err := ctl.Dial(e.ctx, socket); err == nil {
					if v, err := client.Version(e.ctx); err == nil {
						out["vfsd"], out["api"] = v.Version, v.API
					}
					client.Close()
				}
			}
			if e.json {
				return e.printJSON(out)
			}
			fmt.Fprintf(e.stdout, "vfsctl %s\n", out["vfsctl"])
			if out["vfsd"] != "" {
				fmt.Fprintf(e.stdout, "vfsd   %s (API %s)\n", out["vfsd"], out["api"])
			}
			return nil
		},
	}
}
