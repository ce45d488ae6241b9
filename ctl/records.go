package ctl

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/vfs-project/vfs/store"
)

// RecordsType is the binary form of an import's records, which POST
// /v1/imports/{id}/objects accepts besides JSON. Decoding JSON was a fifth
// of the daemon's CPU in an import of 100,000 small files through the
// socket (and encoding it a sixth of the client's), for records that are
// mostly hashes and numbers.
//
// The body is records one after another, each a tag byte then:
//
//	'f' a file:  hash (32 bytes), size (uvarint), mtime (varint),
//	             chunk count (uvarint), chunk hashes (32 bytes each)
//	't' a tree:  length (uvarint), the tree's canonical encoding
//	             (docs/format.md), whose BLAKE3 is its hash
//	's' a stat:  path length (uvarint), path, size (uvarint),
//	             mtime_ns (varint), ctime_ns (varint), ino (uvarint),
//	             hash (32 bytes)
//
// Varints are encoding/binary's (unsigned LEB128; signed ones zig-zag).
const RecordsType = "application/vnd.vfs.records"

func appendFileRecord(b []byte, ref store.Ref, size uint64, mtime int64, chunks []store.Ref) []byte {
	b = append(b, 'f')
	b = append(b, ref[:]...)
	b = binary.AppendUvarint(b, size)
	b = binary.AppendVarint(b, mtime)
	b = binary.AppendUvarint(b, uint64(len(chunks)))
	for _, c := range chunks {
		b = append(b, c[:]...)
	}
	return b
}

func appendTreeRecord(b []byte, encoded []byte) []byte {
	b = append(b, 't')
	b = binary.AppendUvarint(b, uint64(len(encoded)))
	return append(b, encoded...)
}

func appendStatRecord(b []byte, path string, e store.StatEntry) []byte {
	b = append(b, 's')
	b = binary.AppendUvarint(b, uint64(len(path)))
	b = append(b, path...)
	b = binary.AppendUvarint(b, e.Size)
	b = binary.AppendVarint(b, e.MTimeNs)
	b = binary.AppendVarint(b, e.CTimeNs)
	b = binary.AppendUvarint(b, e.Ino)
	return append(b, e.Ref[:]...)
}

// maxRecordLen bounds a tree's encoding or a path in the records stream.
const maxRecordLen = 16 << 20

// readRecords fills r from the binary records stream. Nothing is
// allocated for a length the stream claims before the bytes arrive: a
// record's chunk list and a tree's encoding grow as they are read, so a
// request costs memory in proportion to what it sent (twelve 45-byte
// records claiming 134 million chunks each once took the daemon to
// 8 GiB).
func (r *objectsRequest) readRecords(body io.Reader) error {
	br := bufio.NewReaderSize(io.LimitReader(body, maxJSON), 1<<16)
	n := 0
	bad := func(what string, err error) error {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("record %d: %s: %v: %w", n, what, err, store.ErrInvalid)
	}
	ref := func() (store.Ref, error) {
		var x store.Ref
		_, err := io.ReadFull(br, x[:])
		return x, err
	}
	for ; ; n++ {
		if n > maxBatch {
			return tooMany(n)
		}
		tag, err := br.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return bad("tag", err)
		}
		switch tag {
		case 'f':
			var f fileUpload
			if f.Ref, err = ref(); err != nil {
				return bad("file hash", err)
			}
			if f.Size, err = binary.ReadUvarint(br); err != nil {
				return bad("file size", err)
			}
			if f.MTime, err = binary.ReadVarint(br); err != nil {
				return bad("file mtime", err)
			}
			count, err := binary.ReadUvarint(br)
			if err != nil || count > math.MaxUint32/store.RefSize || count != store.ChunksFor(f.Size) {
				return bad("chunk count", fmt.Errorf("%d chunks for %d bytes (%v)", count, f.Size, err))
			}
			f.Chunks = make([]store.Ref, 0, min(count, 1024))
			for range count {
				c, err := ref()
				if err != nil {
					return bad("chunk hash", err)
				}
				f.Chunks = append(f.Chunks, c)
			}
			r.Files = append(r.Files, f)
		case 't':
			data, err := readBytes(br)
			if err != nil {
				return bad("tree", err)
			}
			t, err := store.DecodeTree(data)
			if err != nil {
				return bad("tree", err)
			}
			r.Trees = append(r.Trees, *t)
		case 's':
			path, err := readBytes(br)
			if err != nil {
				return bad("stat path", err)
			}
			var e store.StatEntry
			if e.Size, err = binary.ReadUvarint(br); err == nil {
				if e.MTimeNs, err = binary.ReadVarint(br); err == nil {
					if e.CTimeNs, err = binary.ReadVarint(br); err == nil {
						if e.Ino, err = binary.ReadUvarint(br); err == nil {
							e.Ref, err = ref()
						}
					}
				}
			}
			if err != nil {
				return bad("stat", err)
			}
			r.Stats = append(r.Stats, store.StatQuery{Path: string(path), Stat: e})
		default:
			return bad("tag", fmt.Errorf("unknown tag %q", tag))
		}
	}
}

func readBytes(br *bufio.Reader) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, err
	}
	if n > maxRecordLen {
		return nil, fmt.Errorf("%d bytes; at most %d", n, maxRecordLen)
	}
	// A claim up to 64 KiB (a path, most trees) gets its buffer at once;
	// a larger one grows it as bytes come, not to the claimed length.
	// ReadAll for every record cost a 100,000-file import a tenth more
	// CPU: its first buffer is 512 bytes, whatever the path's length.
	if n <= smallRecord {
		b := make([]byte, n)
		_, err := io.ReadFull(br, b)
		return b, err
	}
	b, err := io.ReadAll(io.LimitReader(br, int64(n)))
	if err == nil && uint64(len(b)) < n {
		err = io.ErrUnexpectedEOF
	}
	return b, err
}

// smallRecord is the largest length readBytes allocates before the bytes
// arrive.
const smallRecord = 64 << 10
