package ctl

import (
	"errors"
	"fmt"

	"github.com/vfs-project/vfs/store"
)

// The import half of Session. The client walks and reads its files; the
// daemon keeps one verifying writer per connection, so a client can only
// add content whose bytes it sent or that the store already holds.

var errNoImport = errors.New("no import under way on this connection (call Begin)")

func (s *Session) CachedRef(a StatArgs, r *CachedReply) error {
	ref, ok, err := s.local.CachedRef(s.statPath(a.Path), a.Stat)
	*r = CachedReply{Ref: ref, OK: ok}
	return encodeErr(err)
}

func (s *Session) Begin(_ bool, _ *bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.batch != nil {
		return encodeErr(errors.New("an import is already under way on this connection"))
	}
	s.batch = s.local.NewVerifyingWriter()
	return nil
}

func (s *Session) writer() (*store.Writer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.batch == nil {
		return nil, errNoImport
	}
	return s.batch, nil
}

// HasChunk tells the client whether to send a chunk's bytes.
func (s *Session) HasChunk(a RefArg, r *bool) error {
	ok, err := s.local.HasChunk(a.Ref)
	*r = ok
	return encodeErr(err)
}

func (s *Session) PutChunk(data []byte, r *store.Ref) error {
	w, err := s.writer()
	if err != nil {
		return encodeErr(err)
	}
	if len(data) > store.ChunkSize {
		return encodeErr(fmt.Errorf("chunk of %d bytes: at most %d", len(data), store.ChunkSize))
	}
	ref, err := w.PutChunk(data)
	*r = ref
	return encodeErr(err)
}

func (s *Session) PutFile(a PutFileArgs, r *int64) error {
	w, err := s.writer()
	if err != nil {
		return encodeErr(err)
	}
	m, err := w.PutFile(a.Ref, a.Size, a.MTime, a.Chunks)
	*r = m
	return encodeErr(err)
}

func (s *Session) PutTree(t store.Tree, r *store.Ref) error {
	w, err := s.writer()
	if err != nil {
		return encodeErr(err)
	}
	ref, err := w.PutTree(&t)
	*r = ref
	return encodeErr(err)
}

func (s *Session) PutStat(a StatArgs, _ *bool) error {
	w, err := s.writer()
	if err != nil {
		return encodeErr(err)
	}
	return encodeErr(w.PutStat(s.statPath(a.Path), a.Stat))
}

// Finish makes the import's objects durable, after checking every file
// record the client sent against its chunks.
func (s *Session) Finish(_ bool, _ *bool) error {
	s.mu.Lock()
	w := s.batch
	s.batch = nil
	s.mu.Unlock()
	if w == nil {
		return encodeErr(errNoImport)
	}
	return encodeErr(w.Finish())
}

func (s *Session) Abort(_ bool, _ *bool) error {
	s.abortImport()
	return nil
}

// CommitSnapshot makes a snapshot visible once everything it names is
// stored: a client could send a tree naming content that is not there.
func (s *Session) CommitSnapshot(info store.SnapshotInfo, r *store.SnapshotInfo) error {
	problems, err := s.local.CheckPresent(info.ID)
	if err != nil {
		return encodeErr(err)
	}
	if len(problems) > 0 {
		return encodeErr(fmt.Errorf("snapshot %s is incomplete: %s: %w", info.ID.Short(), problems[0], store.ErrNotFound))
	}
	out, err := s.local.CommitSnapshot(info)
	*r = out
	if err == nil {
		s.log.Info("imported snapshot", "id", out.ID.Short(), "files", out.Files, "bytes", out.Bytes, "uid", s.local.Who.UID)
	}
	return encodeErr(err)
}
