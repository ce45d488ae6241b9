package store

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/y"
)

// Options configure Open.
type Options struct {
	// InMemory keeps everything in memory (tests); Dir is then ignored.
	InMemory bool
	// Logger receives Badger's warnings and errors; nil discards them.
	Logger *slog.Logger
	// ValueLogFileSize overrides the value log's file size (64 MiB).
	// GC never rewrites the newest file, so tests of GC use small ones.
	ValueLogFileSize int64
	// MustExist refuses to create a store: a directory that holds none is
	// ErrNotFound, so that a mistyped path is not a new, empty store.
	MustExist bool
}

// Store is an open object store. It is safe for concurrent use.
type Store struct {
	db  *badger.DB
	dir string
	// gcMu is held exclusively by GC's mark and sweep, and shared by an
	// import while it looks an object up and records that it relies on
	// it, and while it commits: no sweep falls between the two.
	gcMu sync.RWMutex
	// blockMu is held shared by every write (transactions and import
	// batches) and exclusively by GC while Badger's DropPrefix blocks
	// writes: a write then waits a moment instead of failing with
	// "Writes are blocked". gcRunMu serializes whole collections.
	blockMu sync.RWMutex
	gcRunMu sync.Mutex
	// refsMu serializes SetRef and DeleteSnapshot: they read and write
	// the same keys, and Badger would fail one of two concurrent ones.
	refsMu sync.Mutex
	tip    logTip // under refsMu
	// readOnly: opened read-only because the disk was full (see Open).
	readOnly bool
	// imports are the writers between Begin and Commit or Abort.
	imports *imports
	// gen counts sweeps (kept on disk, key family w); present maps a
	// snapshot whose objects CheckPresent found to the gen it found
	// them in: valid only while no sweep has run since.
	gen     atomic.Uint64
	present sync.Map
	// compressor makes and checks variants (variants.go); nil: none.
	compressorMu sync.Mutex
	compressor   Compressor
	compressed   compressedTotals // since open, for metrics
	// private is the index of private contents (private.go).
	private privateSet
}

// Open opens or creates the store in dir.
func Open(dir string, o Options) (*Store, error) {
	bo := badger.DefaultOptions(dir).
		WithInMemory(o.InMemory).
		// Chunks of 16 KiB and more go to the value log, so compactions do
		// not rewrite file content (../NOTES: the LSM copies small values).
		WithValueThreshold(16 << 10).
		// Value-log GC rewrites whole files and never the newest one, so
		// the files are kept small (Badger's default is 1 GiB): at most
		// 64 MiB of deleted content can wait for the next file.
		WithValueLogFileSize(cmp.Or(o.ValueLogFileSize, 64<<20)).
		// A docroot daemon should stay small: Badger's defaults (five
		// 64 MiB memtables, a 256 MiB block cache) made vfsd's RSS about
		// 300 MiB. File content is cached by the kernel's page cache
		// above us anyway: reading 100,000 files of a million-file
		// snapshot took as long with a 16 MiB block cache as with 64.
		WithMemTableSize(16 << 20).
		WithNumMemtables(3).
		WithBlockCacheSize(16 << 20).
		WithCompression(options.None).
		// Durability comes from explicit Sync calls at commit points.
		WithSyncWrites(false).
		WithLogger(badgerLogger{o.Logger})
	readOnly := false
	if o.MustExist && !o.InMemory {
		if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err != nil {
			return nil, fmt.Errorf("no store at %s: %w", dir, ErrNotFound)
		}
	}
	if o.InMemory {
		// Without a value log every value lives in the LSM tree, whose
		// limit is the value threshold.
		bo = bo.WithDir("").WithValueDir("").WithValueThreshold(1 << 20)
		dir = ""
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	} else if err := removeEmptyValueLogs(dir); err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	} else if full(dir) {
		// Badger starts a value-log file at every open, written through
		// a map: on a full disk that is a SIGBUS. Read-only, nothing is
		// written and the store can still be served.
		bo = bo.WithReadOnly(true)
		readOnly = true
	}
	db, err := badger.Open(bo)
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("store %s is %w", dir, ErrBusy)
		}
		if damagedIndex(err) {
			return nil, fmt.Errorf("open store %s: %v: %w: its index (MANIFEST or a table) fails its checksum, so "+
				"nothing in it can be trusted; restore the last backup into a new directory "+
				"(vfsctl --store NEW restore FILE; docs/operations.md, Recovery)", dir, err, ErrCorrupt)
		}
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s := &Store{db: db, dir: dir, imports: newImports(), readOnly: readOnly}
	if err := s.checkSchema(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if err := s.loadSweeps(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if err := s.loadPrivate(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	return s, nil
}

// loadSweeps reads the sweep count into gen.
func (s *Store) loadSweeps() error {
	v, err := s.get(sweepsKey())
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	case len(v) != 8:
		return fmt.Errorf("sweep count %x: %w", v, ErrCorrupt)
	}
	s.gen.Store(binary.BigEndian.Uint64(v))
	return nil
}

// removeEmptyValueLogs deletes value-log and memtable files (*.vlog,
// *.mem) of zero bytes. Badger creates such a file, then sizes it and
// writes its header; killed in between, it leaves an empty file, and
// Badger v4.9.6 then refuses to open the store (valueLog.open and
// openMemTables take the "new file" that opening it reports for an
// error). An empty file holds no header and so no entry: no key points
// into it and no write is lost.
func removeEmptyValueLogs(dir string) error {
	var logs []string
	for _, pattern := range []string{"*.vlog", "*.mem"} {
		found, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return err
		}
		logs = append(logs, found...)
	}
	for _, p := range logs {
		if fi, err := os.Stat(p); err == nil && fi.Size() == 0 {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// damagedIndex reports whether Badger refused to open because its own
// files fail their checksums. Badger wraps these errors in ways errors.Is
// does not always see through, so its messages are matched too.
func damagedIndex(err error) bool {
	if errors.Is(err, y.ErrChecksumMismatch) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"checksum mismatch", "manifest has bad magic", "failed to read index"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// checkSchema writes the schema version into a new store and refuses a
// store written with another.
func (s *Store) checkSchema() error {
	if s.readOnly {
		v, err := s.get(schemaKey())
		if err == nil && (len(v) != 4 || binary.BigEndian.Uint32(v) != SchemaVersion) {
			err = fmt.Errorf("schema %x, want %d (a read-only store cannot be upgraded): %w", v, SchemaVersion, ErrSchema)
		}
		return err
	}
	return s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(schemaKey())
		if errors.Is(err, badger.ErrKeyNotFound) {
			return txn.Set(schemaKey(), binary.BigEndian.AppendUint32(nil, SchemaVersion))
		}
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		var from uint32
		if len(v) == 4 {
			from = binary.BigEndian.Uint32(v)
		}
		if from == 1 {
			if err := migrateV1(txn); err != nil {
				return err
			}
		}
		if from == 1 || from == 2 {
			if err := migrateV2(txn); err != nil {
				return err
			}
		}
		if from >= 1 && from <= 4 {
			// Schema 4 reads everything 3 wrote, and 5 everything 4
			// wrote: only the number moves, so that older binaries
			// refuse the longer stat entries (4) and do not sweep the
			// variants they cannot see (5).
			return txn.Set(schemaKey(), binary.BigEndian.AppendUint32(nil, SchemaVersion))
		}
		if len(v) != 4 || binary.BigEndian.Uint32(v) != SchemaVersion {
			return fmt.Errorf("schema %x, want %d: %w", v, SchemaVersion, ErrSchema)
		}
		return nil
	})
}

// migrateV1 adds the history index (schema 2) to a store written by
// schema 1, from its activation log, in the transaction that opens it.
func migrateV1(txn *badger.Txn) error {
	err := scanIn(txn, prefixLog, func(k, v []byte) error {
		var e LogEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("log entry %x: %v: %w", k, err, ErrCorrupt)
		}
		return txn.Set(historyKey(e.Ref, e.Time.UnixNano(), e.Seq), historyValue(e))
	})
	if err != nil {
		return fmt.Errorf("migrate schema 1 to 2: %w", err)
	}
	return nil
}

// migrateV2 pins every labelled snapshot (schema 3): until schema 2 a label
// kept its snapshot from retention, and now that labels can move and be
// removed, pinning is its own act. An upgrade must not make a snapshot
// someone labelled to keep prunable.
func migrateV2(txn *badger.Txn) error {
	type change struct {
		key  []byte
		info SnapshotInfo
	}
	var pin []change
	err := scanIn(txn, prefixSnapshot, func(k, v []byte) error {
		var info SnapshotInfo
		if err := json.Unmarshal(v, &info); err != nil {
			return fmt.Errorf("snapshot record %x: %v: %w", k, err, ErrCorrupt)
		}
		if len(info.Labels) > 0 && !info.Pinned {
			info.Pinned = true
			pin = append(pin, change{append([]byte(nil), k...), info})
		}
		return nil
	})
	for _, c := range pin {
		if err == nil {
			err = putJSON(txn, c.key, c.info)
		}
	}
	if err != nil {
		return fmt.Errorf("migrate schema 2 to 3: %w", err)
	}
	return nil
}

// update runs fn in a read-write transaction, never during GC's memtable
// flush (see blockMu).
func (s *Store) update(fn func(txn *badger.Txn) error) error {
	if err := s.checkSpace(writeReserve, "a write"); err != nil {
		return err
	}
	s.blockMu.RLock()
	defer s.blockMu.RUnlock()
	return s.db.Update(fn)
}

// ReadOnly reports whether the store was opened read-only because its
// file system was full: it serves what it holds and refuses every write.
func (s *Store) ReadOnly() bool { return s.readOnly }

// Dir returns the directory the store lives in ("" in memory).
func (s *Store) Dir() string { return s.dir }

// Close flushes and closes the store.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.dir, err)
	}
	return nil
}

// Sync makes every write so far durable.
func (s *Store) Sync() error {
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("sync store: %w", err)
	}
	return nil
}

// get copies the value of key, mapping a missing key to ErrNotFound.
func (s *Store) get(key []byte) ([]byte, error) {
	var v []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	return v, notFound(err)
}

func (s *Store) has(key []byte) (bool, error) {
	err := s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(key)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

func notFound(err error) error {
	if errors.Is(err, badger.ErrKeyNotFound) {
		return ErrNotFound
	}
	return err
}

// badgerLogger sends Badger's warnings and errors to slog; its chatty info
// and debug lines are dropped.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	if b.l != nil {
		b.l.Error("badger: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
	}
}

func (b badgerLogger) Warningf(f string, a ...any) {
	if b.l != nil {
		b.l.Warn("badger: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
	}
}
func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}
