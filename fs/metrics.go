package fs

import "time"

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
	// snapshot, by how many activations back it was served (1: the one
	// before the active snapshot). A label per snapshot id would grow
	// without bound; the depth is bounded by maxCarried.
	CarriedOver(depth int)
}

// noMetrics is used when none are configured.
type noMetrics struct{}

func (noMetrics) Op(string, time.Duration) {}
func (noMetrics) ReadBytes(int)            {}
func (noMetrics) CarriedOver(int)          {}

// observe records op's duration since start: defer f.observe("read", time.Now()).
func (f *FS) observe(op string, start time.Time) { f.metrics.Op(op, time.Since(start)) }
