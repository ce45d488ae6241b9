package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
)

// manCommand writes man pages for every command, for make install. Hidden:
// people read them with man, not run this.
func manCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "gen-man DIR",
		Short:  "write vfsctl's man pages (section 1) into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			root := c.Root()
			root.DisableAutoGenTag = true
			return doc.GenManTree(root, &doc.GenManHeader{Title: "VFSCTL", Section: "1", Source: "vfs"}, args[0])
		},
	}
}

// reference renders every command's usage, description and flags as
// markdown: the generated part of docs/cli.md, which a test keeps current.
func reference(root *cobra.Command) string {
	var b strings.Builder
	var walk func(c *cobra.Command)
	var all []*cobra.Command
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			all = append(all, sub)
			walk(sub)
		}
	}
	walk(root)
	sort.Slice(all, func(i, j int) bool { return all[i].CommandPath() < all[j].CommandPath() })
	fmt.Fprintf(&b, "### Global flags\n\n```\n%s```\n", root.PersistentFlags().FlagUsagesWrapped(100))
	for _, c := range all {
		fmt.Fprintf(&b, "\n### %s\n\n```\n%s\n```\n\n%s\n", strings.TrimPrefix(c.CommandPath(), "vfsctl "), c.UseLine(), c.Long)
		if c.Long == "" {
			fmt.Fprintf(&b, "%s\n", c.Short)
		}
		var own pflag.FlagSet
		c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
			if f.Name != "help" {
				own.AddFlag(f)
			}
		})
		if own.HasFlags() {
			fmt.Fprintf(&b, "\n```\n%s```\n", own.FlagUsagesWrapped(100))
		}
	}
	return b.String()
}
