package ctl

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"

	"github.com/vfs-project/vfs/store"
)

// claimRecord is a 45-byte file record that claims n chunks and sends
// none of their hashes.
func claimRecord(n uint64) []byte {
	ref := store.Sum([]byte("x"))
	b := append([]byte{'f'}, ref[:]...)
	b = binary.AppendUvarint(b, n*store.ChunkSize)
	b = binary.AppendVarint(b, 1)
	return binary.AppendUvarint(b, n)
}

// A record allocates for what arrives, not for what it claims: a claim
// of 134 million chunks (4 GiB of hashes) with none sent is refused
// having allocated next to nothing.
func TestRecordsAllocateWhatArrives(t *testing.T) {
	for name, body := range map[string][]byte{
		"chunk count": claimRecord(1<<32/store.RefSize - 1),
		"tree length": binary.AppendUvarint([]byte{'t'}, maxRecordLen),
		"stat path":   binary.AppendUvarint([]byte{'s'}, maxRecordLen),
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var r objectsRequest
		err := r.readRecords(bytes.NewReader(body))
		runtime.ReadMemStats(&after)
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
			t.Errorf("%s: a %d-byte request allocated %d bytes", name, len(body), got)
		}
	}
}

// FuzzRecords: whatever the bytes, the decoder returns (nil or invalid),
// never panics, and a stream it takes encodes back to the same records.
func FuzzRecords(f *testing.F) {
	ref := store.Sum([]byte("x"))
	tree, _ := store.EncodeTree(&store.Tree{Entries: []store.Entry{{Name: "a", Kind: store.KindFile, Mode: 0o644, Ref: ref, Size: 1}}})
	f.Add(appendFileRecord(nil, ref, 1, 1, []store.Ref{ref}))
	f.Add(appendTreeRecord(nil, tree))
	f.Add(appendStatRecord(nil, "/src/a", store.StatEntry{Size: 1, MTimeNs: 2, CTimeNs: 3, Ino: 4, Ref: ref}))
	f.Add(claimRecord(1 << 20))
	f.Add([]byte{'q'})
	f.Fuzz(func(t *testing.T, body []byte) {
		var r objectsRequest
		err := r.readRecords(bytes.NewReader(body))
		if err != nil {
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("error not invalid: %v", err)
			}
			return
		}
		var again []byte
		for _, f := range r.Files {
			again = appendFileRecord(again, f.Ref, f.Size, f.MTime, f.Chunks)
		}
		var r2 objectsRequest
		if err := r2.readRecords(bytes.NewReader(again)); err != nil || len(r2.Files) != len(r.Files) {
			t.Fatalf("re-encoded files do not decode: %v", err)
		}
	})
}
