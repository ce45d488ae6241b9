package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"sort"
)

// ChunkSize is the size of every chunk but a file's last. 256 KiB keeps the
// cost of verifying a chunk on each read near 130 µs while a 2 GiB file still
// needs only 8192 chunk refs.
const ChunkSize = 256 << 10

// Kind is what a tree entry names.
type Kind uint8

// Entry kinds, as stored.
const (
	KindFile    Kind = 1
	KindDir     Kind = 2
	KindSymlink Kind = 3
)

func (k Kind) String() string {
	switch k {
	case KindFile:
		return "file"
	case KindDir:
		return "dir"
	case KindSymlink:
		return "symlink"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// MarshalText spells a kind as a word in JSON: "file", "dir", "symlink".
func (k Kind) MarshalText() ([]byte, error) {
	switch k {
	case KindFile, KindDir, KindSymlink:
		return []byte(k.String()), nil
	}
	return nil, fmt.Errorf("kind %d: %w", uint8(k), ErrInvalid)
}

// UnmarshalText reads a kind's word.
func (k *Kind) UnmarshalText(b []byte) error {
	for _, c := range []Kind{KindFile, KindDir, KindSymlink} {
		if string(b) == c.String() {
			*k = c
			return nil
		}
	}
	return fmt.Errorf("kind %q: not file, dir or symlink: %w", b, ErrInvalid)
}

// An Entry is one name in a Tree.
type Entry struct {
	Name   string      `json:"name"`
	Kind   Kind        `json:"kind"`
	Mode   fs.FileMode `json:"mode"`   // permission bits only
	Ref    Ref         `json:"ref"`    // file content or subtree; zero for a symlink
	Size   uint64      `json:"size"`   // file size; 0 for others
	Target string      `json:"target"` // symlink target
}

// A Tree is one directory: its entries sorted by name bytes.
type Tree struct {
	Entries []Entry `json:"entries"`
}

// Lookup returns the entry called name, using the sort order.
func (t *Tree) Lookup(name string) (Entry, bool) {
	i := sort.Search(len(t.Entries), func(i int) bool { return t.Entries[i].Name >= name })
	if i < len(t.Entries) && t.Entries[i].Name == name {
		return t.Entries[i], true
	}
	return Entry{}, false
}

// A FileRecord describes a file's content: its chunks and its validators.
type FileRecord struct {
	Ref       Ref    `json:"ref"` // BLAKE3 of the whole content
	Size      uint64 `json:"size"`
	MTime     int64  `json:"mtime"` // unix seconds, owned by the content (docs/format.md)
	ChunkSize uint32 `json:"chunk_size"`
	Chunks    []Ref  `json:"chunks"`
}

var (
	treeMagic = []byte("VFST")
	fileMagic = []byte("VFSF")
)

const objectVersion = 1

// EncodeTree returns the canonical encoding of t, sorting its entries first.
// Its BLAKE3 hash is the tree's Ref.
func EncodeTree(t *Tree) ([]byte, error) {
	sort.Slice(t.Entries, func(i, j int) bool { return t.Entries[i].Name < t.Entries[j].Name })
	var b bytes.Buffer
	b.Write(treeMagic)
	b.WriteByte(objectVersion)
	b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(t.Entries))))
	for i, e := range t.Entries {
		if i > 0 && t.Entries[i-1].Name == e.Name {
			return nil, fmt.Errorf("encode tree: duplicate name %q", e.Name)
		}
		if len(e.Name) == 0 || len(e.Name) > 0xffff || len(e.Target) > 0xffff {
			return nil, fmt.Errorf("encode tree: bad name or target length for %q", e.Name)
		}
		b.WriteByte(byte(e.Kind))
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(e.Mode.Perm())))
		writeString16(&b, e.Name)
		switch e.Kind {
		case KindFile:
			b.Write(e.Ref[:])
			b.Write(binary.BigEndian.AppendUint64(nil, e.Size))
		case KindDir:
			b.Write(e.Ref[:])
		case KindSymlink:
			writeString16(&b, e.Target)
		default:
			return nil, fmt.Errorf("encode tree: %q has unknown kind %d", e.Name, e.Kind)
		}
	}
	return b.Bytes(), nil
}

func writeString16(b *bytes.Buffer, s string) {
	b.Write(binary.BigEndian.AppendUint16(nil, uint16(len(s))))
	b.WriteString(s)
}

// DecodeTree parses an encoded tree. It does not check the hash.
func DecodeTree(data []byte) (*Tree, error) {
	d := decoder{b: data}
	if !bytes.Equal(d.next(4), treeMagic) || d.u8() != objectVersion {
		return nil, fmt.Errorf("decode tree: bad magic or version: %w", ErrCorrupt)
	}
	n := d.u32()
	if d.err == nil && int(n) > len(data)/8 {
		return nil, fmt.Errorf("decode tree: %d entries in %d bytes: %w", n, len(data), ErrCorrupt)
	}
	t := &Tree{Entries: make([]Entry, 0, n)}
	for i := uint32(0); i < n && d.err == nil; i++ {
		e := Entry{Kind: Kind(d.u8())}
		// Only permission bits are ever encoded: a mode with others is
		// not the canonical encoding of any tree (it would decode to the
		// tree of another hash).
		if mode := d.u32(); mode&^0o777 != 0 {
			d.fail()
		} else {
			e.Mode = fs.FileMode(mode)
		}
		e.Name = string(d.next(int(d.u16())))
		switch e.Kind {
		case KindFile:
			copy(e.Ref[:], d.next(RefSize))
			e.Size = d.u64()
		case KindDir:
			copy(e.Ref[:], d.next(RefSize))
		case KindSymlink:
			e.Target = string(d.next(int(d.u16())))
		default:
			d.fail()
		}
		t.Entries = append(t.Entries, e)
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("decode tree: malformed: %w", ErrCorrupt)
	}
	return t, nil
}

// encodeFile returns the stored form of a file record.
func encodeFile(f *FileRecord) []byte {
	b := make([]byte, 0, 4+1+8+8+4+4+len(f.Chunks)*RefSize)
	b = append(b, fileMagic...)
	b = append(b, objectVersion)
	b = binary.BigEndian.AppendUint64(b, f.Size)
	b = binary.BigEndian.AppendUint64(b, uint64(f.MTime))
	b = binary.BigEndian.AppendUint32(b, f.ChunkSize)
	b = binary.BigEndian.AppendUint32(b, uint32(len(f.Chunks)))
	for _, c := range f.Chunks {
		b = append(b, c[:]...)
	}
	return b
}

// decodeFile parses a stored file record and checks that its chunk count
// fits its size.
func decodeFile(ref Ref, data []byte) (*FileRecord, error) {
	d := decoder{b: data}
	if !bytes.Equal(d.next(4), fileMagic) || d.u8() != objectVersion {
		return nil, fmt.Errorf("decode file %s: bad magic or version: %w", ref, ErrCorrupt)
	}
	f := &FileRecord{Ref: ref, Size: d.u64(), MTime: int64(d.u64()), ChunkSize: d.u32()}
	n := d.u32()
	if d.err != nil || f.ChunkSize == 0 || uint64(n) != ceilDiv(f.Size, uint64(f.ChunkSize)) || len(d.b) != int(n)*RefSize {
		return nil, fmt.Errorf("decode file %s: malformed: %w", ref, ErrCorrupt)
	}
	f.Chunks = make([]Ref, n)
	for i := range f.Chunks {
		copy(f.Chunks[i][:], d.next(RefSize))
	}
	return f, nil
}

// ChunksFor is how many chunks of ChunkSize hold size bytes.
func ChunksFor(size uint64) uint64 { return ceilDiv(size, ChunkSize) }

// ceilDiv is a/b rounded up, without the overflow of adding b-1 first.
func ceilDiv(a, b uint64) uint64 {
	n := a / b
	if a%b != 0 {
		n++
	}
	return n
}

// decoder reads big-endian fields and remembers the first short read.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err = ErrCorrupt; d.b = nil }

func (d *decoder) next(n int) []byte {
	if d.err != nil || n > len(d.b) {
		d.fail()
		return make([]byte, n)
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8   { return d.next(1)[0] }
func (d *decoder) u16() uint16 { return binary.BigEndian.Uint16(d.next(2)) }
func (d *decoder) u32() uint32 { return binary.BigEndian.Uint32(d.next(4)) }
func (d *decoder) u64() uint64 { return binary.BigEndian.Uint64(d.next(8)) }
