package store

import (
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// batchBytes is how many bytes of values an import writes before it
// commits them. Badger counts a value-log entry as a pointer only, so one
// WriteBatch would otherwise hold a whole import and write it in one
// request: a kill during that request leaves bytes in the value log with no
// key pointing at them, and Badger reclaims value-log space only through
// deleted keys (measured: 193 MiB left for good after kill -9 during a
// 287 MiB import). Committed objects have keys; until the import commits
// its snapshot GC keeps them, afterwards or after a crash GC deletes them.
const batchBytes = 16 << 20

// batch is a Badger WriteBatch that commits every batchBytes. Safe for
// concurrent use.
type batch struct {
	s       *Store
	db      *badger.DB
	block   *sync.RWMutex // Store.blockMu
	mu      sync.RWMutex  // shared by set, exclusive to swap the WriteBatch
	wb      *badger.WriteBatch
	spent   bool // flushed or cancelled; under mu
	pending int64
	// unchecked counts bytes set since the free space was last checked;
	// -1 before the first check.
	unchecked int64
	pmu       sync.Mutex // guards pending and unchecked
}

// checkEvery is how many bytes a batch sets between two checks of the
// free space: a statfs per chunk cost 6% of an import of small files, and
// importReserve leaves room for many such steps.
const checkEvery = 1 << 20

func newBatch(s *Store) *batch {
	return &batch{s: s, db: s.db, block: &s.blockMu, wb: s.db.NewWriteBatch(), unchecked: -1}
}

func (b *batch) set(k, v []byte) error {
	b.pmu.Lock()
	due := b.unchecked < 0 || b.unchecked >= checkEvery
	if due {
		b.unchecked = 0
	}
	b.unchecked += int64(len(k) + len(v))
	b.pmu.Unlock()
	if due {
		if err := b.s.checkSpace(importReserve, "an import"); err != nil {
			return err
		}
	}
	b.block.RLock()
	defer b.block.RUnlock()
	b.mu.RLock()
	err := ErrImportEnded
	if !b.spent {
		err = b.wb.Set(k, v)
	}
	b.mu.RUnlock()
	if err != nil {
		return err
	}
	b.pmu.Lock()
	b.pending += int64(len(k) + len(v))
	full := b.pending >= batchBytes
	b.pmu.Unlock()
	if full {
		return b.commitLocked()
	}
	return nil
}

// commitLocked writes what was set so far and starts a new WriteBatch;
// the caller holds block shared.
func (b *batch) commitLocked() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pmu.Lock()
	empty := b.pending == 0
	b.pending = 0
	b.pmu.Unlock()
	if empty || b.spent {
		return nil
	}
	err := b.wb.Flush()
	b.wb = b.db.NewWriteBatch()
	return err
}

// flush writes what is left; the batch is then spent.
func (b *batch) flush() error {
	b.block.RLock()
	defer b.block.RUnlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.spent {
		return ErrImportEnded
	}
	b.spent = true
	return b.wb.Flush()
}

// cancel drops what was set since the last commit.
func (b *batch) cancel() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.spent {
		b.spent = true
		b.wb.Cancel()
	}
}
