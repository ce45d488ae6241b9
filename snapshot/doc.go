// Package snapshot owns what vfs does with snapshots: import from a
// directory or a tar archive, resolving what a user types to a snapshot,
// activation of named refs and rollback, diff, export, removal and verify.
// Both vfsctl (store opened directly) and vfsd (through its control socket)
// call these functions, so the two paths behave the same.
//
// Words:
//
//   - Snapshot: an immutable directory tree in the store; its id is the
//     BLAKE3 hash of its root tree, so identical content gives the same id.
//   - Ref: a named pointer to a snapshot. The mount serves ref "current" at
//     /current; others (canary, staging) work the same.
//   - Activation: pointing a ref at a snapshot, in one transaction that also
//     appends to the activation log. Activating the snapshot a ref already
//     points at changes nothing (store.ErrUnchanged). Rollback is an
//     activation of the last snapshot the ref served that differs from the
//     one it serves now.
//   - Label: a user's name for one snapshot, usable wherever an id is.
//   - Entry and asset: the kinds of paths a site serves (stable URLs, and
//     content-hashed files that pages reference); see docs/.
package snapshot
