package store

// TreeReader reads trees. Tree verifies the tree against its ref.
type TreeReader interface {
	Tree(ref Ref) (*Tree, error)
}

// Reader reads what a snapshot holds. *Store implements it, and so does
// vfsd's control-socket client. Not-found wraps ErrNotFound, damage wraps
// ErrCorrupt. ReadAt copies into the caller's p and verifies what it
// copies. Implementations are safe for concurrent use.
type Reader interface {
	TreeReader
	File(ref Ref) (*FileRecord, error)
	ReadAt(f *FileRecord, p []byte, off int64) (int, error)
}

// Batch is one import, from Begin to Commit or Abort; *Writer implements
// it, and so does vfsd's socket client. Nothing written becomes durable or
// visible before Commit, which records the snapshot; after Commit or Abort
// the batch takes no more writes (ErrImportEnded). CachedRef answers from
// the stat cache (an absolute source path with these attributes hashed to
// a content that is still stored).
type Batch interface {
	CachedRef(path string, cur StatEntry) (Ref, bool, error)
	PutChunk(data []byte) (Ref, error)
	PutFile(ref Ref, size uint64, srcMTime int64, chunks []Ref) (int64, error)
	PutTree(t *Tree) (Ref, error)
	PutStat(path string, e StatEntry) error
	Commit(info SnapshotInfo) (SnapshotInfo, error)
	Abort()
}

// Begin starts a Batch (a Writer).
func (s *Store) Begin() (Batch, error) { return s.NewWriter(), nil }

var (
	_ Reader = (*Store)(nil)
	_ Batch  = (*Writer)(nil)
)
