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
// the batch takes no more writes (ErrImportEnded). CachedRefs answers many
// questions of the stat cache at once (did an absolute source path with
// these attributes hash to a content that is still stored?): a zero Ref is
// a miss. The other writes need no answer but an error, so an
// implementation across a socket may send them in batches and report an
// error at a later call or at Commit.
type Batch interface {
	CachedRefs(q []StatQuery) ([]Ref, error)
	PutChunk(data []byte) (Ref, error)
	PutFile(ref Ref, size uint64, srcMTime int64, chunks []Ref) error
	PutTree(t *Tree) (Ref, error)
	PutStat(path string, e StatEntry) error
	Commit(info SnapshotInfo) (SnapshotInfo, error)
	Abort()
	// NewBytes is how many bytes of chunks written so far the store did
	// not hold before.
	NewBytes() int64
}

// StatQuery asks the stat cache about one source path.
type StatQuery struct {
	Path string    `json:"path"`
	Stat StatEntry `json:"stat"`
}

// Begin starts a Batch (a Writer).
func (s *Store) Begin() (Batch, error) { return s.NewWriter(), nil }

// Verifying is s as an import target whose file records are checked
// against their chunks at commit (NewVerifyingWriter): for content hashed
// by someone else, such as a snapshot pulled from another node.
func Verifying(s *Store) interface{ Begin() (Batch, error) } { return verifying{s} }

type verifying struct{ s *Store }

func (v verifying) Begin() (Batch, error) { return v.s.NewVerifyingWriter(), nil }

var (
	_ Reader = (*Store)(nil)
	_ Batch  = (*Writer)(nil)
)
