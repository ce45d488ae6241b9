// Package ctl is the control plane: the API that vfsctl, scripts and (for
// objects) other nodes use to reach a store, served by vfsd over HTTP.
//
// Words used here:
//   - API: everything vfsctl asks of a store. Local implements it in this
//     process (vfsctl without a daemon, and behind the socket vfsd itself);
//     Client implements it through vfsd's control socket. ctltest.Run is
//     the conformance suite both pass.
//   - endpoint: one operation of the HTTP API. endpoints.go holds the one
//     table of them: route, request and response types, documentation and
//     handler. The server's routes, the client's calls and the reference in
//     docs/api.md are all made from it.
//   - kind: a class of error with a stable name on the wire, a sentinel that
//     errors.Is finds on both sides, an HTTP status and a vfsctl exit code,
//     all in one table, Kinds.
//   - session: one request as the daemon sees it: the caller's credentials
//     (SO_PEERCRED: root, the daemon's user and the socket's group may act)
//     and a Local that records the caller in the log.
//   - import: a store.Writer owned by the uid that began it, fed by a few
//     large requests (stat cache questions, chunk offers, chunks, records)
//     and aborted when it outlives its lease. The client reads the files with
//     its own permissions; the daemon hashes what it is sent and checks the
//     whole at commit (docs/security.md).
//   - peer listener: an optional TCP listener serving only the read-only
//     object endpoints, for the nodes of a fleet.
//
// Every request has a deadline, and its work stops when the client hangs up
// or the daemon shuts down.
package ctl
