package store

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// fillLog writes n activation-log entries (with their history keys) for
// ref current, alternating between a and b, one second apart, ending now.
func fillLog(b *testing.B, s *Store, n int, a, c Ref) time.Time {
	b.Helper()
	wb := newBatch(s)
	start := time.Now().Add(-time.Duration(n) * time.Second)
	for i := 1; i <= n; i++ {
		e := LogEntry{Seq: uint64(i), Time: start.Add(time.Duration(i) * time.Second), Ref: "current", From: a, To: c}
		if i%2 == 0 {
			e.From, e.To = c, a
		}
		data, _ := json.Marshal(e)
		if err := wb.set(logKey(e.Seq), data); err != nil {
			b.Fatal(err)
		}
		if err := wb.set(historyKey("current", e.Time.UnixNano(), e.Seq), historyValue(e)); err != nil {
			b.Fatal(err)
		}
	}
	if err := wb.flush(); err != nil {
		b.Fatal(err)
	}
	if err := s.update(func(txn *badger.Txn) error { return txn.Set(namedRefKey("current"), a[:]) }); err != nil {
		b.Fatal(err)
	}
	return start
}

// historyStore is a store whose log has n entries for ref current.
type historyStore struct {
	s     *Store
	n     int
	start time.Time
	ids   [2]Ref
}

// The store is closed and opened again, which flushes its memtables: both
// stores then answer from tables, as a daemon's does once its memtable was
// flushed, whatever the log's length.
func newHistoryStore(b *testing.B, n int) *historyStore {
	dir := b.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	h := &historyStore{s: s, n: n}
	for i := range h.ids {
		w := s.NewWriter()
		h.ids[i], _ = w.PutTree(&Tree{Entries: []Entry{{Name: "i", Kind: KindSymlink, Target: string(rune('a' + i))}}})
		if _, err := w.Commit(SnapshotInfo{ID: h.ids[i]}); err != nil {
			b.Fatal(err)
		}
	}
	h.start = fillLog(b, s, n, h.ids[0], h.ids[1])
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if h.s, err = Open(dir, Options{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.s.Close() })
	return h
}

// at looks up what current served at the i-th probe instant.
func (h *historyStore) at(b *testing.B, i int) time.Duration {
	when := h.start.Add(time.Duration(1+(i*7919)%h.n) * time.Second)
	t0 := time.Now()
	found := false
	h.s.RefHistory("current", when, func(LogEntry) bool { found = true; return false })
	d := time.Since(t0)
	if !found {
		b.Fatal("no entry found")
	}
	return d
}

// activate moves current once.
func (h *historyStore) activate(b *testing.B, i int) time.Duration {
	t0 := time.Now()
	if _, err := h.s.SetRef("current", h.ids[(i+1)%2], LogEntry{Time: time.Now()}); err != nil {
		b.Fatal(err)
	}
	return time.Since(t0)
}

// BenchmarkHistoryAtScale compares, in one run, an /at/ lookup and an
// activation on a log of 100,000 entries with the same on a log of 10,
// the two stores measured in turn, probe by probe, after a warm-up pass,
// so that both see the same noise. The ratios are the figures to read: 1
// means the log's length costs nothing. It also times what b1a963c did
// for every /at/ lookup and every ref directory built after an
// activation: read the whole log.
func BenchmarkHistoryAtScale(b *testing.B) {
	const reps = 500
	for i := 0; i < b.N; i++ {
		small, big := newHistoryStore(b, 10), newHistoryStore(b, 100000)
		for r := 0; r < reps; r++ { // warm-up: block cache and page cache
			small.at(b, r)
			big.at(b, r)
		}
		var atSmall, atBig, actSmall, actBig time.Duration
		for r := 0; r < reps; r++ {
			atSmall += small.at(b, r)
			atBig += big.at(b, r)
		}
		for r := 0; r < reps/5; r++ {
			actSmall += small.activate(b, r)
			actBig += big.activate(b, r)
		}
		t0 := time.Now()
		if _, err := big.s.Log(); err != nil {
			b.Fatal(err)
		}
		scan := time.Since(t0)
		b.ReportMetric(float64(atSmall.Nanoseconds()/reps), "at-10-ns")
		b.ReportMetric(float64(atBig.Nanoseconds()/reps), "at-100k-ns")
		b.ReportMetric(float64(atBig)/float64(atSmall), "at-ratio")
		b.ReportMetric(float64(scan.Nanoseconds()), "log-read-100k-ns")
		b.ReportMetric(float64(actSmall.Nanoseconds()/(reps/5)), "activate-10-ns")
		b.ReportMetric(float64(actBig.Nanoseconds()/(reps/5)), "activate-100k-ns")
		b.ReportMetric(float64(actBig)/float64(actSmall), "activate-ratio")
	}
}
