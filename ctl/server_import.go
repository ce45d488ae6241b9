package ctl

import (
	"errors"
	"fmt"
	"time"

	"github.com/vfs-project/vfs/store"
)

// The import half of Session. The client walks and reads its files; the
// daemon keeps one verifying writer per connection, so a client can only
// add content whose bytes it sent or that the store already holds.
//
// The import holds a lease: a client that sends nothing for ImportLease
// loses it, and the import is aborted. GC never waits for an import, but an
// open import keeps what it wrote alive; the lease bounds how long a
// silent client can do that.

var errNoImport = errors.New("no import under way on this connection (call Begin)")

// DefaultImportLease is how long an import may stay silent when
// Local.ImportLease is not set.
const DefaultImportLease = time.Minute

func (s *Session) leaseLength() time.Duration {
	if s.local.ImportLease > 0 {
		return s.local.ImportLease
	}
	return DefaultImportLease
}

func (s *Session) Begin(_ bool, _ *bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.batch != nil {
		return encodeErr(errors.New("an import is already under way on this connection"))
	}
	s.batch, s.expired = s.local.NewVerifyingWriter(), false
	s.lease = time.AfterFunc(s.leaseLength(), s.expire)
	return nil
}

// expire aborts the import whose lease ran out.
func (s *Session) expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.batch == nil {
		return
	}
	s.batch.Abort()
	s.batch, s.expired = nil, true
	s.log.Warn("import aborted: the client sent nothing within its lease", "uid", s.local.Who.UID, "pid", s.local.Who.PID, "lease", s.leaseLength())
}

// writer returns the import under way and renews its lease.
func (s *Session) writer() (*store.Writer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.batch == nil {
		if s.expired {
			return nil, fmt.Errorf("import aborted: nothing was sent for %s (vfsd --import-lease): %w", s.leaseLength(), store.ErrImportEnded)
		}
		return nil, errNoImport
	}
	s.lease.Reset(s.leaseLength())
	return s.batch, nil
}

// takeWriter ends the session's hold on the import, for Commit and Abort.
func (s *Session) takeWriter() *store.Writer {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.batch
	s.batch = nil
	if s.lease != nil {
		s.lease.Stop()
	}
	return w
}

// abortImport drops the import under way, if any.
func (s *Session) abortImport() {
	if w := s.takeWriter(); w != nil {
		w.Abort()
	}
}

func (s *Session) CachedRef(a StatArgs, r *CachedReply) error {
	w, err := s.writer()
	if err != nil {
		return encodeErr(err)
	}
	ref, ok, err := w.CachedRef(s.statPath(a.Path), a.Stat)
	*r = CachedReply{Ref: ref, OK: ok}
	return encodeErr(err)
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
		return encodeErr(fmt.Errorf("chunk of %d bytes: at most %d: %w", len(data), store.ChunkSize, store.ErrInvalid))
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

// Commit ends the import: the writer checks every file record the client
// sent against its chunks, every object the snapshot names, and the tree
// itself, then records the snapshot.
func (s *Session) Commit(info store.SnapshotInfo, r *store.SnapshotInfo) error {
	w := s.takeWriter()
	if w == nil {
		_, err := s.writer()
		return encodeErr(err)
	}
	out, err := w.Commit(info)
	*r = out
	if err == nil {
		s.log.Info("imported snapshot", "id", out.ID.Short(), "files", out.Files, "bytes", out.Bytes, "uid", s.local.Who.UID)
	} else {
		s.log.Warn("import refused", "id", info.ID.Short(), "uid", s.local.Who.UID, "pid", s.local.Who.PID, "err", err)
	}
	return encodeErr(err)
}

func (s *Session) Abort(_ bool, _ *bool) error {
	s.abortImport()
	return nil
}
