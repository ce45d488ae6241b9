package fs

import (
	"time"

	"github.com/vfs-project/vfs/store"
)

// Metrics receives what the file system does; vfsd exports it for
// Prometheus. Methods are called on FUSE request paths: they must be cheap
// and safe for concurrent use.
type Metrics interface {
	// Op records one FUSE request that reached the daemon (the kernel
	// answers most from its caches) and how long it took.
	Op(op string, d time.Duration)
	// ReadBytes counts bytes served by Read.
	ReadBytes(n int)
	// CarriedOver counts a lookup under a ref answered from an older
	// snapshot: evidence of when that snapshot can go.
	CarriedOver(snapshot store.Ref)
}

// noMetrics is used when none are configured.
type noMetrics struct{}

func (noMetrics) Op(string, time.Duration) {}
func (noMetrics) ReadBytes(int)            {}
func (noMetrics) CarriedOver(store.Ref)    {}

// observe records op's duration since start: defer f.observe("read", time.Now()).
func (f *FS) observe(op string, start time.Time) { f.metrics.Op(op, time.Since(start)) }
