package store

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecodeTree: any bytes decode to a tree or fail as corrupt, never
// panic; a tree that decodes and encodes again encodes to the same bytes
// (the encoding is canonical, so a tree's hash names one tree).
func FuzzDecodeTree(f *testing.F) {
	for _, t := range []*Tree{
		{},
		{Entries: []Entry{file("a"), sym("l", "a")}},
		{Entries: []Entry{dir("d", Sum([]byte("x"))), file("z")}},
	} {
		data, _ := EncodeTree(t)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := DecodeTree(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("not corrupt: %v", err)
			}
			return
		}
		valid := CheckTree(tr) == nil // before EncodeTree, which sorts
		again, err := EncodeTree(tr)
		if err == nil && valid && !bytes.Equal(again, data) {
			t.Fatalf("a valid tree re-encodes to other bytes")
		}
	})
}

// FuzzDecodeFile: any bytes decode to a record whose chunk count fits its
// size, or fail as corrupt; a record re-encodes to the same bytes.
func FuzzDecodeFile(f *testing.F) {
	ref := Sum([]byte("x"))
	f.Add(encodeFile(&FileRecord{Ref: ref, Size: 1, MTime: 5, ChunkSize: ChunkSize, Chunks: []Ref{ref}}))
	f.Add(encodeFile(&FileRecord{Ref: ref, Size: 0, ChunkSize: ChunkSize}))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := decodeFile(ref, data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("not corrupt: %v", err)
			}
			return
		}
		if uint64(len(rec.Chunks))*uint64(rec.ChunkSize) < rec.Size {
			t.Fatalf("%d chunks of %d bytes cannot hold %d", len(rec.Chunks), rec.ChunkSize, rec.Size)
		}
		if !bytes.Equal(encodeFile(rec), data) {
			t.Fatal("a record re-encodes to other bytes")
		}
	})
}

// FuzzDecodeStat: a stat cache value decodes or fails as corrupt.
func FuzzDecodeStat(f *testing.F) {
	e := StatEntry{Size: 1, MTimeNs: 2, CTimeNs: 3, Ino: 4, Ref: Sum([]byte("x"))}
	f.Add(e.encode(7))
	f.Add(e.encodeUnswept())
	f.Fuzz(func(t *testing.T, data []byte) {
		var got StatEntry
		sweeps, swept, err := decodeStat(data, &got)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("not corrupt: %v", err)
			}
			return
		}
		again := got.encodeUnswept()
		if swept {
			again = got.encode(sweeps)
		}
		if !bytes.Equal(again, data) {
			t.Fatal("an entry re-encodes to other bytes")
		}
	})
}
