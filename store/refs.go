package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// A LogEntry records one activation: a named ref moved from one snapshot to
// another. Prev is the BLAKE3 hash of the previous entry's stored bytes (zero
// for the first), so editing or deleting an entry breaks the chain.
type LogEntry struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Ref    string    `json:"ref"`
	From   Ref       `json:"from"`
	To     Ref       `json:"to"`
	UID    int       `json:"uid"`
	PID    int       `json:"pid"`
	User   string    `json:"user"`
	Reason string    `json:"reason"`
	Prev   Ref       `json:"prev"`
	// Signer is the principal whose signature allowed the switch (vfsd
	// --allowed-signers), if a policy asked for one.
	Signer string `json:"signer,omitempty"`
}

// ErrUnchanged: the ref already points at that snapshot; nothing was done.
var ErrUnchanged = errors.New("already points there")

// SetRef points the named ref at snapshot to and appends e (completed with
// sequence, from, to and chain hash) to the activation log and the ref's
// history index, in one transaction, then syncs. It returns the entry as
// stored, or ErrUnchanged if the ref already points at to. SetRefs are
// serialized (refsMu), so concurrent activations never conflict inside
// Badger, and the log's order is the order the ref moved in.
func (s *Store) SetRef(name string, to Ref, e LogEntry) (LogEntry, error) {
	e, err := s.moveRef(name, to, e)
	if err != nil {
		return e, fmt.Errorf("set ref %q to %s: %w", name, to.Short(), err)
	}
	return e, nil
}

// RemoveRef deletes the named ref and appends e, with To zero, to the log
// and the ref's history, in one transaction: the log says when it went
// and who removed it, and /at/ finds nothing served after that instant.
// ErrNotFound if there is no such ref.
func (s *Store) RemoveRef(name string, e LogEntry) (LogEntry, error) {
	e, err := s.moveRef(name, Ref{}, e)
	if err != nil {
		return e, fmt.Errorf("remove ref %q: %w", name, err)
	}
	return e, nil
}

// moveRef points ref name at to (zero: removes it) and logs e.
func (s *Store) moveRef(name string, to Ref, e LogEntry) (LogEntry, error) {
	if err := CheckLabel(name); err != nil {
		return e, fmt.Errorf("ref name: %w", err)
	}
	if err := CheckText("reason", e.Reason); err != nil {
		return e, err
	}
	s.refsMu.Lock()
	defer s.refsMu.Unlock()
	var next logTip
	err := s.update(func(txn *badger.Txn) error {
		if !to.IsZero() {
			if _, err := snapshotIn(txn, to); err != nil {
				return fmt.Errorf("snapshot %s: %w", to.Short(), err)
			}
		}
		from, err := getRefIn(txn, namedRefKey(name))
		if err != nil && !(isNotFound(err) && !to.IsZero()) {
			return err
		}
		if from == to {
			return ErrUnchanged
		}
		tip, err := s.logTipIn(txn)
		if err != nil {
			return err
		}
		// The log's times never go back, whatever the clock did: the
		// history index sorts by time, and rollback and /at/ read it
		// in the log's order.
		if e.Time.Before(tip.time) {
			e.Time = tip.time
		}
		e.Seq, e.Ref, e.From, e.To, e.Prev = tip.seq+1, name, from, to, tip.hash
		if to.IsZero() {
			err = txn.Delete(namedRefKey(name))
		} else {
			err = txn.Set(namedRefKey(name), append([]byte(nil), to[:]...))
		}
		if err != nil {
			return err
		}
		if err := txn.Set(historyKey(name, e.Time.UnixNano(), e.Seq), historyValue(e)); err != nil {
			return err
		}
		data, err := json.Marshal(e)
		if err != nil {
			return err
		}
		next = logTip{seq: e.Seq, hash: Sum(data), time: e.Time, known: true}
		return txn.Set(logKey(e.Seq), data)
	})
	if err != nil {
		return e, err
	}
	s.tip = next
	return e, s.Sync()
}

// logTip is the activation log's last entry: its sequence number and the
// hash of its stored bytes, which the next entry chains to (zero for an
// empty log). The store keeps it under refsMu, read from the log once:
// only SetRef appends, SetRefs are serialized, and one process holds a
// store, so an activation need not seek the end of the log.
type logTip struct {
	seq   uint64
	hash  Ref
	time  time.Time // the entry's; the next is never earlier
	known bool
}

// logTipIn returns the tip, reading it from the log the first time.
// Called with refsMu held.
func (s *Store) logTipIn(txn *badger.Txn) (logTip, error) {
	if s.tip.known {
		return s.tip, nil
	}
	seq, last, err := lastLogIn(txn)
	if err != nil {
		return logTip{}, err
	}
	t := logTip{seq: seq, known: true}
	if last != nil {
		t.hash = Sum(last)
		var e LogEntry
		if err := json.Unmarshal(last, &e); err != nil {
			return logTip{}, fmt.Errorf("log entry %d: %v: %w", seq, err, ErrCorrupt)
		}
		t.time = e.Time
	}
	return t, nil
}

// RefHistory calls fn with the activations of ref name at or before
// instant before, newest first, until fn returns false. The entries it
// passes hold Seq, Time, Ref, From and To, all from the history index:
// each costs one step of one iterator, however long the log.
func (s *Store) RefHistory(name string, before time.Time, fn func(LogEntry) bool) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: historyPrefix(name), Reverse: true})
		defer it.Close()
		for it.Seek(historyKey(name, before.UnixNano(), ^uint64(0))); it.Valid(); it.Next() {
			e := LogEntry{Ref: name}
			err := it.Item().Value(func(v []byte) error { return parseHistory(it.Item().Key(), v, &e) })
			if err != nil {
				return err
			}
			if !fn(e) {
				return nil
			}
		}
		return nil
	})
}

// lastLogIn returns the last log sequence number and that entry's stored
// bytes (nil and 0 for an empty log).
func lastLogIn(txn *badger.Txn) (uint64, []byte, error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixLog}, Reverse: true})
	defer it.Close()
	it.Seek(logKey(^uint64(0)))
	if !it.Valid() {
		return 0, nil, nil
	}
	seq, err := parseLogKey(it.Item().Key())
	if err != nil {
		return 0, nil, err
	}
	v, err := it.Item().ValueCopy(nil)
	return seq, v, err
}

// NamedRef returns the snapshot a named ref points at.
func (s *Store) NamedRef(name string) (Ref, error) {
	var r Ref
	err := s.db.View(func(txn *badger.Txn) (err error) {
		r, err = getRefIn(txn, namedRefKey(name))
		return err
	})
	if err != nil {
		return r, fmt.Errorf("ref %q: %w", name, err)
	}
	return r, nil
}

// NamedRefs returns every named ref.
func (s *Store) NamedRefs() (map[string]Ref, error) {
	var m map[string]Ref
	err := s.db.View(func(txn *badger.Txn) (err error) {
		m, err = namedRefsIn(txn)
		return err
	})
	return m, err
}

func namedRefsIn(txn *badger.Txn) (map[string]Ref, error) {
	m := map[string]Ref{}
	err := scanIn(txn, prefixNamedRef, func(k, v []byte) error {
		if len(v) != RefSize {
			return fmt.Errorf("ref %q: %w", parseNameKey(k), ErrCorrupt)
		}
		m[parseNameKey(k)] = Ref(v)
		return nil
	})
	return m, err
}

// Log returns the activation log, oldest first.
func (s *Store) Log() ([]LogEntry, error) {
	var out []LogEntry
	err := s.scan(prefixLog, func(k, v []byte) error {
		var e LogEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("log entry %x: %v: %w", k, err, ErrCorrupt)
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// VerifyLog checks the log's hash chain and numbering and returns one
// message per break found.
func (s *Store) VerifyLog() ([]string, error) {
	var problems []string
	var prev []byte
	var want uint64 = 1
	err := s.scan(prefixLog, func(k, v []byte) error {
		seq, err := parseLogKey(k)
		if err != nil {
			return err
		}
		var e LogEntry
		switch {
		case json.Unmarshal(v, &e) != nil:
			problems = append(problems, fmt.Sprintf("log entry %d does not parse", seq))
		case seq != want || e.Seq != seq:
			problems = append(problems, fmt.Sprintf("log entry %d: expected entry %d (entries deleted or renumbered)", seq, want))
		case prev != nil && e.Prev != Sum(prev):
			problems = append(problems, fmt.Sprintf("log entry %d: chain broken (entry %d was changed)", seq, seq-1))
		}
		prev, want = append(prev[:0], v...), seq+1
		return nil
	})
	return problems, err
}
