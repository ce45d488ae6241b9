// Package ctl is how vfsctl reaches a store: directly (Local, when no
// daemon runs) or through vfsd's control socket (Client and Serve). Both
// implement API, so every vfsctl command behaves the same either way, and the
// request and response types of the socket protocol live here, used by both
// sides.
//
// The socket speaks Go's net/rpc (gob) on a Unix stream socket. The daemon
// learns each peer's uid and pid from the kernel (SO_PEERCRED) and records
// them in the activation log; a client cannot claim to be someone else. An
// import sends file contents through the socket: the client reads the files
// with its own permissions and the daemon asks only for chunks it lacks, so
// the daemon never opens a path a client names. The daemon trusts nothing
// it is sent: a verifying writer re-hashes content and the store checks the
// tree at commit (docs/security.md). An import holds a lease: a client
// silent for Local.ImportLease loses its import.
package ctl
