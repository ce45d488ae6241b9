// Package integration holds black-box tests and benchmarks: they build
// vfsd and vfsctl, run them as processes, and compare vfs with real tools
// (cp, ostree, restic, nginx, Apache) on the same data. A missing
// prerequisite skips a test with the reason; with VFS_REQUIRE_ALL=1 (set by
// CI) it fails instead.
package integration
