package store

import (
	"encoding/binary"
	"fmt"
	"time"
)

// The key schema. Every key starts with one prefix byte naming its family;
// docs/format.md gives the value layouts. Integers are big-endian so that keys
// of one family sort numerically.
const (
	// "v" -> schema version, uint32. Checked at open.
	prefixSchema byte = 'v'
	// 'c' ref[32] -> the chunk's raw bytes; ref = BLAKE3(bytes).
	prefixChunk byte = 'c'
	// 'f' ref[32] -> file record; ref = BLAKE3(whole file content).
	prefixFile byte = 'f'
	// 't' ref[32] -> tree object; ref = BLAKE3(encoded tree).
	prefixTree byte = 't'
	// 'u' size[8] mtime[8] -> ref[32]: which content owns a validator
	// (size, mtime), so that no two contents share one.
	prefixValidator byte = 'u'
	// 's' id[32] -> snapshot record (JSON).
	prefixSnapshot byte = 's'
	// 'l' label -> id[32].
	prefixLabel byte = 'l'
	// 'r' name -> id[32]: a named ref such as current.
	prefixNamedRef byte = 'r'
	// 'g' seq[8] -> activation log entry (JSON).
	prefixLog byte = 'g'
	// 'x' source path -> stat cache entry: lets a re-import skip unchanged files.
	prefixStat byte = 'x'
	// 'o' name -> a store setting (JSON): classes, retention defaults.
	prefixSetting byte = 'o'
	// 'p' ref[32] -> purge record (JSON): content withdrawn from /a/ and
	// from asset carry-over.
	prefixPurge byte = 'p'
	// 'h' name 0x00 time[8] seq[8] -> from[32] to[32]: the activation log by ref
	// and time (unix nanoseconds), so that "what did this ref serve at T"
	// and "what did it serve lately" are one seek, not a scan of the log.
	prefixHistory byte = 'h'
	// 'k' id[32] -> (empty): every object snapshot id names was present
	// when it was last checked, and every sweep since kept the snapshot
	// (a sweep deletes the markers of all else before it deletes an
	// object).
	prefixPresent byte = 'k'
	// 'w' -> sweep count, uint64: how many GC sweeps have deleted objects
	// from this store. Written and synced before a sweep's first delete,
	// so that "no sweep since" can be told across restarts.
	prefixSweeps byte = 'w'
	// 'q' id[32] -> removal record (JSON): when, how and by whom a
	// snapshot's record was removed, so that a rollback to it says so.
	// At most MaxRemovals are kept.
	prefixRemoval byte = 'q'
	// 'y' ref[32] -> (empty): a private content, which no snapshot names
	// readable by others (private.go); /a/ serves it to its owner only.
	prefixPrivate byte = 'y'
	// 'n' id[32] hash[32] -> an armored SSHSIG signature of snapshot id
	// (docs/security.md, "Signed releases"); hash is BLAKE3 of the
	// signature, so that one is stored once. Removed with the snapshot.
	prefixSignature byte = 'n'
	// 'e' content[32] encoding[1] -> variant ref[32], or empty: the
	// content compressed with that encoding (variants.go), or the note
	// that it was compressed and did not pay.
	prefixVariant byte = 'e'
	// 'z' -> scratch: GC writes one key here and drops the prefix, the one
	// public way to make Badger flush its memtables to tables that
	// compaction (and so value-log GC) can then work on.
	prefixScratch byte = 'z'
)

// SchemaVersion is the layout this code reads and writes. Version 1 lacked
// the history index ('h'); version 2 let labels pin their snapshots, which
// version 3 records as SnapshotInfo.Pinned; version 4 added the sweep count
// ('w') and a stat cache entry's sweep count (a 64-byte entry without it
// stays valid); version 5 added variants ('e'), which older code would
// sweep from under their index. Older stores are migrated at open.
const SchemaVersion uint32 = 5

func schemaKey() []byte { return []byte{prefixSchema} }
func sweepsKey() []byte { return []byte{prefixSweeps} }

func refKey(prefix byte, r Ref) []byte {
	k := make([]byte, 1+RefSize)
	k[0] = prefix
	copy(k[1:], r[:])
	return k
}

func chunkKey(r Ref) []byte    { return refKey(prefixChunk, r) }
func fileKey(r Ref) []byte     { return refKey(prefixFile, r) }
func treeKey(r Ref) []byte     { return refKey(prefixTree, r) }
func snapshotKey(r Ref) []byte { return refKey(prefixSnapshot, r) }
func presentKey(r Ref) []byte  { return refKey(prefixPresent, r) }
func removalKey(r Ref) []byte  { return refKey(prefixRemoval, r) }
func privateKey(r Ref) []byte  { return refKey(prefixPrivate, r) }

func signatureKey(id, sig Ref) []byte { return append(refKey(prefixSignature, id), sig[:]...) }

func variantKey(content Ref, enc Encoding) []byte {
	return append(refKey(prefixVariant, content), byte(enc))
}

// parseVariantKey is the inverse of variantKey.
func parseVariantKey(k []byte) (Ref, Encoding, error) {
	var r Ref
	if len(k) != 2+RefSize || k[0] != prefixVariant || !Encoding(k[1+RefSize]).Valid() {
		return r, 0, fmt.Errorf("key %x is not a variant key: %w", k, ErrCorrupt)
	}
	copy(r[:], k[1:])
	return r, Encoding(k[1+RefSize]), nil
}

func nameKey(prefix byte, name string) []byte {
	return append([]byte{prefix}, name...)
}

func labelKey(name string) []byte    { return nameKey(prefixLabel, name) }
func namedRefKey(name string) []byte { return nameKey(prefixNamedRef, name) }
func statKey(path string) []byte     { return nameKey(prefixStat, path) }
func settingKey(name string) []byte  { return nameKey(prefixSetting, name) }
func purgeKey(r Ref) []byte          { return refKey(prefixPurge, r) }

func validatorKey(size uint64, mtime int64) []byte {
	k := make([]byte, 17)
	k[0] = prefixValidator
	binary.BigEndian.PutUint64(k[1:], size)
	binary.BigEndian.PutUint64(k[9:], uint64(mtime))
	return k
}

// validatorPrefix is the part of a validator key shared by one size.
func validatorPrefix(size uint64) []byte { return validatorKey(size, 0)[:9] }

// validatorMTime is the mtime field of a validator key.
func validatorMTime(k []byte) int64 { return int64(binary.BigEndian.Uint64(k[9:])) }

func logKey(seq uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixLog
	binary.BigEndian.PutUint64(k[1:], seq)
	return k
}

func historyPrefix(name string) []byte {
	return append(append([]byte{prefixHistory}, name...), 0)
}

func historyKey(name string, t int64, seq uint64) []byte {
	k := historyPrefix(name)
	k = binary.BigEndian.AppendUint64(k, uint64(t))
	return binary.BigEndian.AppendUint64(k, seq)
}

// historyValue is what the history index keeps of a log entry.
func historyValue(e LogEntry) []byte {
	return append(append(make([]byte, 0, 2*RefSize), e.From[:]...), e.To[:]...)
}

// parseHistory fills e's Seq, Time, From and To from a history key and
// value; it is the inverse of historyKey and historyValue.
func parseHistory(k, v []byte, e *LogEntry) error {
	if len(k) < 18 || k[0] != prefixHistory || k[len(k)-17] != 0 || len(v) != 2*RefSize {
		return fmt.Errorf("history key %x: %w", k, ErrCorrupt)
	}
	e.Time = time.Unix(0, int64(binary.BigEndian.Uint64(k[len(k)-16:]))).UTC()
	e.Seq = binary.BigEndian.Uint64(k[len(k)-8:])
	copy(e.From[:], v)
	copy(e.To[:], v[RefSize:])
	return nil
}

// parseRefKey is the inverse of refKey for a key of the given family.
func parseRefKey(prefix byte, k []byte) (Ref, error) {
	var r Ref
	if len(k) != 1+RefSize || k[0] != prefix {
		return r, fmt.Errorf("key %x is not a %q key: %w", k, prefix, ErrCorrupt)
	}
	copy(r[:], k[1:])
	return r, nil
}

// parseNameKey is the inverse of nameKey.
func parseNameKey(k []byte) string { return string(k[1:]) }

// parseLogKey is the inverse of logKey.
func parseLogKey(k []byte) (uint64, error) {
	if len(k) != 9 || k[0] != prefixLog {
		return 0, fmt.Errorf("key %x is not a log key: %w", k, ErrCorrupt)
	}
	return binary.BigEndian.Uint64(k[1:]), nil
}
