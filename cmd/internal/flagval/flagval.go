// Package flagval holds flag values the two commands share. A Duration
// takes what snapshot.ParseDuration reads: Go's durations, and days and
// weeks ("7d", "2w"), so that every duration flag of vfsd and vfsctl
// accepts the same forms.
package flagval

import (
	"time"

	"github.com/spf13/pflag"
	"github.com/vfs-project/vfs/snapshot"
)

// Duration is a pflag.Value over a time.Duration.
type Duration struct{ D *time.Duration }

func (v Duration) String() string {
	if v.D == nil {
		return ""
	}
	if *v.D == 0 {
		// pflag shows no "(default ...)" for "0": a flag whose zero
		// means "not given" (prune's --keep-within) says its default
		// in its own words, once.
		return "0"
	}
	return snapshot.FormatDuration(*v.D)
}

func (v Duration) Set(s string) error {
	d, err := snapshot.ParseDuration(s)
	if err != nil {
		return err
	}
	*v.D = d
	return nil
}

func (v Duration) Type() string { return "duration" }

// DurationVar binds a Duration flag with a default.
func DurationVar(fs *pflag.FlagSet, p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	fs.Var(Duration{p}, name, usage)
}
