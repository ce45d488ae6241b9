// Package fs is vfs's FUSE file system: a read-only docroot over the store.
//
// The tree:
//
//	/current/            the snapshot ref "current" points at
//	/refs/<name>/        the snapshot any ref points at
//	/snapshots/<id>/     every snapshot, by full id
//	/a/<hash>[.<ext>]    any stored file by content hash; the extension lets
//	                     web servers pick a Content-Type and is ignored
//
// Words: a snapshot is immutable, so every node below /current,
// /refs/<name> or /snapshots/<id> is bound to one snapshot's tree and never
// reads a ref again. Activation (Retarget) gives /current a fresh directory
// inode and invalidates the kernel's entry for the name: a path walk resolves
// "current" once and then stays in one snapshot, so no request mixes two,
// and an open file keeps reading its own bytes.
//
// Caching: entries and attributes are cached by the kernel for an hour and
// file contents stay in the page cache; files answer OPEN and FLUSH with
// ENOSYS, which makes the kernel stop sending them (no round trips per
// request). While the kernel holds a file's inode, every path to the same
// content and mode (in any snapshot, or /a/) is that inode, so a file
// unchanged between two snapshots keeps its warm page cache across an
// activation as long as something (a reader, another cached path) holds it.
// The kernel drops a FUSE inode with its last dentry; its number is then
// forgotten too, so the table of numbers is bounded by what the kernel holds.
//
// Listings of snapshot directories never change, so the kernel keeps them
// (FOPEN_CACHE_DIR). The names handed to the kernel below snapshots and /a/
// are bounded (Config.MaxNodes): past the bound the oldest are invalidated
// and the kernel forgets them, which bounds the nodes vfsd keeps.
//
// fs reads the store only through Source.
package fs
