package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vfs-project/vfs/cluster"
	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/store"
)

// metrics are vfsd's Prometheus metrics. They implement fs.Metrics.
type metrics struct {
	reg         *prometheus.Registry
	ops         *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	readBytes   prometheus.Counter
	carried     *prometheus.CounterVec
	activations *prometheus.CounterVec
	gcRuns      prometheus.Counter
	gcReclaimed prometheus.Counter
	// pullRejected counts sources whose objects failed their check.
	pullRejected prometheus.Counter
	// pullStalled counts sources dropped for stalling mid-pull.
	pullStalled prometheus.Counter
	// peerRejected counts the peer listener's refusals, by reason.
	peerRejected *prometheus.CounterVec
}

func newMetrics(local *ctl.Local) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vfs_fuse_requests_total",
			Help: "FUSE requests that reached vfsd (the kernel answers most from its caches), by operation."}, []string{"op"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vfs_fuse_request_duration_seconds",
			Help: "Time vfsd took to answer a FUSE request, by operation.", Buckets: prometheus.ExponentialBuckets(5e-6, 4, 10)}, []string{"op"}),
		readBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "vfs_read_bytes_total",
			Help: "Bytes served by FUSE reads (page-cache hits never reach vfsd)."}),
		carried: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vfs_carryover_lookups_total",
			Help: "Lookups under a ref answered from an older snapshot (asset carry-over), by how many activations back that snapshot was served (1: the one before the active one). When a depth stays at zero, pages that old are no longer being loaded."}, []string{"depth"}),
		activations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vfs_activations_total",
			Help: "Activations and rollbacks, by ref."}, []string{"ref"}),
		gcRuns:      prometheus.NewCounter(prometheus.CounterOpts{Name: "vfs_gc_runs_total", Help: "Garbage collections completed."}),
		gcReclaimed: prometheus.NewCounter(prometheus.CounterOpts{Name: "vfs_gc_reclaimed_bytes_total", Help: "Disk space given back by garbage collection."}),
		pullRejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "vfs_cluster_pull_rejected_total",
			Help: "Pulls of a cluster release whose objects from a source failed their hash check (nothing of them was recorded; the next source was tried)."}),
		pullStalled: prometheus.NewCounter(prometheus.CounterOpts{Name: "vfs_cluster_pull_stalled_total",
			Help: "Pulls of a cluster release dropped because the source stopped sending, or sent under 64 KiB per progress deadline (the next source was tried; the stalled one is backed off)."}),
		peerRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vfs_peer_rejected_total",
			Help: "Connections and requests the peer listener refused, by reason: connections (over the host's or the listener's limit), in_flight (requests), body (too large or too slow), private (a private content asked without a member's certificate), tls (a failed handshake)."}, []string{"reason"}),
	}
	storeBytes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vfs_store_bytes", Help: "Disk space the store's files take."},
		func() float64 { return float64(local.Store().DiskSize()) })
	snaps := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vfs_snapshots", Help: "Snapshots in the store."},
		func() float64 { all, _ := local.Snapshots(); return float64(len(all)) })
	compressed := func(name, help string, f func(store.VariantStats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(local.Store().Compressed()) })
	}
	m.reg.MustRegister(
		compressed("vfs_compressed_files_total", "Contents new to the store that imports compressed (.br, .gz variants).",
			func(v store.VariantStats) float64 { return float64(v.Files) }),
		compressed("vfs_compressed_bytes_total", "Bytes of the contents that imports compressed.",
			func(v store.VariantStats) float64 { return float64(v.Bytes) }),
		compressed("vfs_variants_made_total", "Variants imports made and kept (a tenth smaller than their content at least).",
			func(v store.VariantStats) float64 { return float64(v.Variants) }),
		compressed("vfs_compress_seconds_total", "Time the compressing workers of imports spent, added up over workers: about the CPU that compressing took.",
			func(v store.VariantStats) float64 { return v.Elapsed.Seconds() }))
	m.reg.MustRegister(m.ops, m.latency, m.readBytes, m.carried, m.activations, m.gcRuns, m.gcReclaimed, m.pullRejected, m.pullStalled, m.peerRejected, storeBytes, snaps,
		// What every Prometheus user expects of a Go daemon: go_* (heap,
		// goroutines, GC) and process_* (RSS, fds, CPU).
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watchCluster adds the gauges of a node's health in its cluster.
func (m *metrics) watchCluster(node *cluster.Node) {
	gauge := func(name, help string, f func(cluster.Health) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(node.Health()) })
	}
	bit := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	m.reg.MustRegister(
		gauge("vfs_cluster_ready", "1 while this node answers 200 on /v1/ready, else 0.", func(h cluster.Health) float64 { return bit(h.Ready) }),
		gauge("vfs_cluster_etcd_unreachable", "1 while etcd does not answer this node.", func(h cluster.Health) float64 { return bit(h.EtcdUnreachable) }),
		gauge("vfs_cluster_etcd_behind_refs", "Refs for which etcd shows less than this node applied (etcd restored from a backup?).", func(h cluster.Health) float64 { return float64(h.Behind) }),
		gauge("vfs_cluster_unreadable_values", "Values under the cluster's prefix in etcd that this node cannot read.", func(h cluster.Health) float64 { return float64(h.Unreadable) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vfs_cluster_etcd_requests_total", Help: "Requests this node made of etcd (a watch or keep-alive stream counts once)."},
			func() float64 { return float64(node.EtcdRequests()) }),
	)
}

func (m *metrics) Op(op string, d time.Duration) {
	m.ops.WithLabelValues(op).Inc()
	m.latency.WithLabelValues(op).Observe(d.Seconds())
}

func (m *metrics) ReadBytes(n int)       { m.readBytes.Add(float64(n)) }
func (m *metrics) CarriedOver(depth int) { m.carried.WithLabelValues(strconv.Itoa(depth)).Inc() }
func (m *metrics) Activated(ref string)  { m.activations.WithLabelValues(ref).Inc() }
func (m *metrics) Collected(st store.GCStats) {
	m.gcRuns.Inc()
	m.gcReclaimed.Add(float64(max(st.BytesBefore-st.BytesAfter, 0)))
}

// serve answers /metrics on addr until the listener is closed.
func (m *metrics) serve(addr string, log *slog.Logger) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	go func() {
		if err := http.Serve(l, mux); err != nil && !errors.Is(err, net.ErrClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	return l, nil
}

// servePprof answers Go's profiles on addr until the listener is closed.
func servePprof(addr string, log *slog.Logger) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof-listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		if err := http.Serve(l, mux); err != nil && !errors.Is(err, net.ErrClosed) {
			log.Error("pprof server", "err", err)
		}
	}()
	return l, nil
}

var _ ctl.Events = (*metrics)(nil)
