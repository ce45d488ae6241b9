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
		if err := wb.set(historyKey("current", e.Time.UnixNano(), e.Seq), nil); err != nil {
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

// historyCost measures, on a store whose log has n entries, one lookup of
// what current served at a random instant, and one activation.
func historyCost(b *testing.B, n, reps int) (at, activate, scan time.Duration) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ids := make([]Ref, 2)
	for i := range ids {
		w := s.NewWriter()
		ids[i], _ = w.PutTree(&Tree{Entries: []Entry{{Name: "i", Kind: KindSymlink, Target: string(rune('a' + i))}}})
		if _, err := w.Commit(SnapshotInfo{ID: ids[i]}); err != nil {
			b.Fatal(err)
		}
	}
	start := fillLog(b, s, n, ids[0], ids[1])
	t0 := time.Now()
	for i := 0; i < reps; i++ {
		when := start.Add(time.Duration(1+(i*7919)%n) * time.Second)
		found := false
		s.RefHistory("current", when, func(LogEntry) bool { found = true; return false })
		if !found {
			b.Fatal("no entry found")
		}
	}
	at = time.Since(t0) / time.Duration(reps)
	// What b1a963c did for every /at/ lookup and every ref directory
	// built after an activation: read the whole log.
	t0 = time.Now()
	for i := 0; i < 3; i++ {
		if _, err := s.Log(); err != nil {
			b.Fatal(err)
		}
	}
	scan = time.Since(t0) / 3
	t0 = time.Now()
	for i := 0; i < reps; i++ {
		if _, err := s.SetRef("current", ids[(i+1)%2], LogEntry{Time: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	activate = time.Since(t0) / time.Duration(reps)
	return at, activate, scan
}

// BenchmarkHistoryAtScale compares, in one run, an /at/ lookup and an
// activation on a log of 100,000 entries with the same on a log of 10.
// The ratios are the figures to read: 1 means the log's length costs
// nothing.
func BenchmarkHistoryAtScale(b *testing.B) {
	for i := 0; i < b.N; i++ {
		at10, act10, _ := historyCost(b, 10, 200)
		atBig, actBig, scanBig := historyCost(b, 100000, 200)
		b.ReportMetric(float64(at10.Nanoseconds()), "at-10-ns")
		b.ReportMetric(float64(atBig.Nanoseconds()), "at-100k-ns")
		b.ReportMetric(float64(atBig)/float64(at10), "at-ratio")
		b.ReportMetric(float64(scanBig.Nanoseconds()), "log-read-100k-ns")
		b.ReportMetric(float64(act10.Nanoseconds()), "activate-10-ns")
		b.ReportMetric(float64(actBig.Nanoseconds()), "activate-100k-ns")
		b.ReportMetric(float64(actBig)/float64(act10), "activate-ratio")
	}
}
