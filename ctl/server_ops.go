package ctl

import (
	"errors"
	"io"

	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

func (s *Session) Classes(_ bool, r *snapshot.Classes) error {
	c, err := s.local.Classes()
	*r = c
	return encodeErr(err)
}

func (s *Session) SetClasses(c snapshot.Classes, _ *bool) error {
	err := s.local.SetClasses(c)
	if err == nil {
		s.log.Info("classes changed", "include", c.Include, "exclude", c.Exclude, "uid", s.local.Who.UID)
	}
	return encodeErr(err)
}

func (s *Session) Policy(_ bool, r *snapshot.Policy) error {
	p, err := s.local.Policy()
	*r = p
	return encodeErr(err)
}

func (s *Session) SetPolicy(p snapshot.Policy, _ *bool) error {
	return encodeErr(s.local.SetPolicy(p))
}

func (s *Session) Prune(a PruneArgs, r *[]snapshot.Decision) error {
	d, err := s.local.Prune(a.Policy, a.DryRun)
	*r = d
	if err == nil && !a.DryRun {
		for _, x := range d {
			if !x.Keep {
				s.log.Info("pruned snapshot", "id", x.Snapshot.ID.Short(), "uid", s.local.Who.UID)
			}
		}
	}
	return encodeErr(err)
}

func (s *Session) GC(_ bool, r *store.GCStats) error {
	st, err := s.local.GC()
	*r = st
	if err == nil {
		s.log.Info("gc done", "chunks", st.Chunks, "files", st.Files, "trees", st.Trees, "bytes_before", st.BytesBefore, "bytes_after", st.BytesAfter)
	}
	return encodeErr(err)
}

func (s *Session) Purge(a PurgeArgs, r *[]store.PurgeRecord) error {
	recs, err := s.local.Purge(a.Target, a.Reason)
	*r = recs
	for _, p := range recs {
		s.log.Warn("purged content", "ref", p.Ref.Short(), "path", p.Path, "uid", p.UID, "pid", p.PID, "reason", p.Reason)
	}
	return encodeErr(err)
}

func (s *Session) AddLabel(a LabelArgs, _ *bool) error {
	err := s.local.AddLabel(a.ID, a.Name)
	if err == nil {
		s.log.Info("labelled snapshot", "id", a.ID.Short(), "label", a.Name, "uid", s.local.Who.UID)
	}
	return encodeErr(err)
}

// BackupStart begins streaming a backup on this connection; BackupRead
// returns its next bytes, empty at the end.
func (s *Session) BackupStart(_ bool, _ *bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.backup != nil {
		return encodeErr(errors.New("a backup is already being read on this connection"))
	}
	pr, pw := io.Pipe()
	s.backup = pr
	go func() { pw.CloseWithError(s.local.Backup(pw)) }()
	s.log.Info("backup started", "uid", s.local.Who.UID, "pid", s.local.Who.PID)
	return nil
}

func (s *Session) BackupRead(n int, r *[]byte) error {
	s.mu.Lock()
	pr := s.backup
	s.mu.Unlock()
	if pr == nil {
		return encodeErr(errors.New("no backup under way on this connection (call BackupStart)"))
	}
	buf := make([]byte, min(max(n, 1), maxRead))
	got, err := io.ReadFull(pr, buf)
	*r = buf[:got]
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil
	}
	return encodeErr(err)
}
