package store

import (
	"fmt"
	"syscall"
)

// Badger writes its value log, memtables and tables through memory maps of
// sparse files. On a full file system a write into such a map is not an
// error but a SIGBUS that kills the process (measured: vfsd died during a
// 96 MiB import into a 64 MiB tmpfs, leaving a stale mount). So writes are
// refused, as ENOSPC, while the free space is below what Badger may still
// write through its maps before the next check.
const (
	// importReserve: an import's batch (16 MiB of values not yet
	// written), a memtable flushed to a table (16 MiB) and room for
	// compaction.
	importReserve = batchBytes + 32<<20
	// writeReserve: a small transaction (an activation, a label, a
	// setting) and the memtable pages it touches. Kept small so that a
	// rollback still works on a nearly full disk.
	writeReserve = 4 << 20
)

// checkSpace returns an error wrapping syscall.ENOSPC if the store's file
// system has less than need bytes available to it. GC never calls it: GC
// is what gives space back.
func (s *Store) checkSpace(need int64, what string) error {
	if s.dir == "" {
		return nil
	}
	if s.readOnly {
		return fmt.Errorf("store %s was opened read-only because its file system was full; restart vfsd once there is room: %w", s.dir, syscall.ENOSPC)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &st); err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	if free := int64(st.Bavail) * st.Bsize; free < need {
		return fmt.Errorf("store %s: %d MiB free, %s needs %d MiB (run vfsctl gc, or give the file system room): %w",
			s.dir, free>>20, what, need>>20, syscall.ENOSPC)
	}
	return nil
}

// full reports whether dir's file system has less than writeReserve free:
// too little for Badger to open a store for writing.
func full(dir string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(dir, &st) == nil && int64(st.Bavail)*st.Bsize < writeReserve
}
