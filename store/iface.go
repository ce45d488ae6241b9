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

// Batch is an import's stream of writes; *Writer implements it. Nothing
// written becomes durable before Finish, nor visible before CommitSnapshot.
type Batch interface {
	PutChunk(data []byte) (Ref, error)
	PutFile(ref Ref, size uint64, srcMTime int64, chunks []Ref) (int64, error)
	PutTree(t *Tree) (Ref, error)
	PutStat(path string, e StatEntry) error
	Finish() error
	Abort()
}

// Begin starts a Batch (a Writer).
func (s *Store) Begin() (Batch, error) { return s.NewWriter(), nil }

var (
	_ Reader = (*Store)(nil)
	_ Batch  = (*Writer)(nil)
)
