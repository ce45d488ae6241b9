package ctl

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
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

// FuzzChunkStream: a chunk stream yields chunks of at most ChunkSize
// bytes until a clean end, or fails as invalid; never panics, and never
// reads past a claimed length it refused.
func FuzzChunkStream(f *testing.F) {
	frame := func(chunks ...string) []byte {
		var b []byte
		for _, c := range chunks {
			b = binary.AppendUvarint(b, uint64(len(c)))
			b = append(b, c...)
		}
		return b
	}
	f.Add(frame("hello", "world"))
	f.Add(frame(""))
	f.Add(binary.AppendUvarint(nil, store.ChunkSize+1))
	f.Add(append(binary.AppendUvarint(nil, 10), "short"...))
	f.Fuzz(func(t *testing.T, body []byte) {
		br := bufio.NewReader(bytes.NewReader(body))
		buf := make([]byte, store.ChunkSize)
		total := 0
		for i := 0; ; i++ {
			c, err := readChunk(br, buf, i)
			if err == io.EOF {
				return
			}
			if err != nil {
				if !errors.Is(err, store.ErrInvalid) {
					t.Fatalf("chunk %d: not invalid: %v", i, err)
				}
				return
			}
			if total += len(c); len(c) > store.ChunkSize || total > len(body) {
				t.Fatalf("chunk %d of %d bytes from a %d-byte body", i, len(c), len(body))
			}
		}
	})
}

// FuzzJSONBody: whatever the body, decodeJSON fills the request or fails
// as invalid, and never takes more than one JSON object.
func FuzzJSONBody(f *testing.F) {
	f.Add([]byte(`{"id": "` + store.Sum([]byte("x")).String() + `", "reason": "r"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte(`{"id": 1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req activateRequest
		err := decodeJSON(bytes.NewReader(body), &req)
		if err != nil && !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("not invalid: %v", err)
		}
		if err == nil && len(bytes.TrimSpace(body)) > 0 && bytes.TrimSpace(body)[0] != '{' {
			t.Fatalf("took a body that is not an object: %q", body)
		}
	})
}
