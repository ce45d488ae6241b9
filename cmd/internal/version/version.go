// Package version describes the build of vfsd and vfsctl: the module's
// version, the commit it was built from, and the Go release, as Go's
// build information records them.
package version

import "runtime/debug"

// String is the build's description, such as
// "v0.3.0 (commit 3846fd1a2b3c) go1.26.8"; "(devel)" is a build from a
// working tree.
func String() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ", modified"
			}
		}
	}
	if rev != "" {
		v += " (commit " + rev[:min(12, len(rev))] + dirty + ")"
	}
	return v + " " + info.GoVersion
}
