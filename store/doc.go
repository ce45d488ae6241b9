// Package store is vfs's content-addressed object store, kept in an embedded
// Badger database. It owns the database's key schema: no other package builds
// or parses a key.
//
// Words used throughout vfs:
//
//   - Ref: a BLAKE3-256 hash that names an object by its content.
//   - Chunk: up to ChunkSize bytes of a file's content, stored under the hash
//     of those bytes. Files are split into fixed-size chunks so that reading
//     any offset of a large file costs one chunk.
//   - File record: a file's size, its content mtime and the refs of its
//     chunks, stored under the BLAKE3 hash of the whole file's content. That
//     hash is what /a/<hash> in the mount serves.
//   - Tree: one directory's sorted entries (name, kind, mode and ref of each
//     child), stored under the hash of its canonical encoding, like a git tree.
//     Identical directories are stored once across all snapshots.
//   - Snapshot: an immutable tree; its id is the ref of its root tree, so the
//     same content always gives the same id.
//   - Variant: a file content compressed with one encoding (gzip, brotli),
//     stored as a content of its own and found through the variant index
//     by (content, encoding); the mount shows it as NAME.gz or NAME.br
//     beside the file (variants.go). It is not in any tree.
//   - Named ref: a mutable name (current, canary, staging) that points at a
//     snapshot. Its history is the activation log.
//
// Every object is verified against its ref when it is read: a mismatch is
// ErrCorrupt and its bytes are never handed out. Objects carry a magic and a
// version so that they can be copied between stores by hash and checked there.
// docs/format.md describes every key and value byte by byte.
package store
