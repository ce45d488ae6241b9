package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
	"github.com/vfs-project/vfs/snapshot"
)

type classesOptions struct {
	include, exclude []string
	reset            bool
}

func (o *classesOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.include, "include", nil, "glob of paths that are assets (repeatable; 'fonts/**', '*.woff2')")
	fs.StringArrayVar(&o.exclude, "exclude", nil, "glob of paths that are entries even if hashed (repeatable; 'sw-*.js')")
	fs.BoolVar(&o.reset, "reset", false, "forget all patterns: only the built-in rule applies")
}

func classesCommand(e *env) *command {
	o := &classesOptions{}
	return &command{
		name: "classes", nargs: [2]int{0, 0},
		summary: "show or set which paths are assets (carried over) and which are entries",
		flags:   o.AddFlags,
		run:     func(e *env, _ []string) error { return runClasses(e, o) },
	}
}

func runClasses(e *env, o *classesOptions) error {
	api, err := e.store()
	if err != nil {
		return err
	}
	if o.reset || len(o.include)+len(o.exclude) > 0 {
		if err := api.SetClasses(e.ctx, snapshot.Classes{Include: o.include, Exclude: o.exclude}); err != nil {
			return usageError{err.Error()}
		}
	}
	c, err := api.Classes(e.ctx)
	if err != nil {
		return err
	}
	if e.json {
		return e.printJSON(c)
	}
	fmt.Fprintf(e.stdout, "include  %s\nexclude  %s\n", orNone(c.Include), orNone(c.Exclude))
	return nil
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "(none)"
	}
	return strings.Join(list, " ")
}
