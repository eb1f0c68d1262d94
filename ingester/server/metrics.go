package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// metrics are the ingester's Prometheus series, named telemetrylake_ingester_* with a unit suffix.
// They live on a registry owned by the server, not the global one, so that tests can run several
// servers in one process.
type metrics struct {
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	receivedBytes   *prometheus.CounterVec
	records         *prometheus.CounterVec
	blocksWritten   *prometheus.CounterVec
	blocksDuplicate *prometheus.CounterVec
	processes       prometheus.Counter
	storeDuration   *prometheus.HistogramVec
	storeUp         prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, inflight *inflight) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "telemetrylake_ingester_requests_total",
			Help: "OTLP export requests answered, by signal (unknown for a path that is no OTLP route), HTTP code, payload encoding and tenant.",
		}, []string{"signal", "code", "encoding", "tenant"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "telemetrylake_ingester_request_duration_seconds",
			Help:    "Time from request start to answer, by signal.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"signal"}),
		receivedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "telemetrylake_ingester_received_bytes_total",
			Help: "Body bytes received, by signal, as sent on the wire and after decompression (stage).",
		}, []string{"signal", "stage"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "telemetrylake_ingester_records_total",
			Help: "Log records, metric data points and spans in accepted requests.",
		}, []string{"signal"}),
		blocksWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "telemetrylake_ingester_blocks_written_total",
			Help: "Blocks stored for the first time.",
		}, []string{"signal"}),
		blocksDuplicate: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "telemetrylake_ingester_blocks_duplicate_total",
			Help: "Blocks that were already stored (a retried or repeated request); the first write won.",
		}, []string{"signal"}),
		processes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "telemetrylake_ingester_processes_written_total",
			Help: "Process records stored on the first sight of a process.",
		}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "telemetrylake_ingester_store_operation_duration_seconds",
			Help:    "Latency of create-only writes to the store, by result (created, duplicate, error).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"result"}),
		storeUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "telemetrylake_ingester_store_up",
			Help: "1 while the store answers, 0 while it does not (and /readyz fails).",
		}),
	}
	reg.MustRegister(m.requests, m.requestDuration, m.receivedBytes, m.records, m.blocksWritten,
		m.blocksDuplicate, m.processes, m.storeDuration, m.storeUp,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "telemetrylake_ingester_inflight_bytes",
			Help: "Request body bytes held right now.",
		}, func() float64 { return float64(inflight.used.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "telemetrylake_ingester_inflight_max_bytes",
			Help: "The bound on request body bytes held at once; past it requests get 429.",
		}, func() float64 { return float64(inflight.limit) }),
	)
	return m
}

// observeRequest counts an answered request; signal is "unknown" for a path that is no route.
func (m *metrics) observeRequest(signal string, status int, enc encoding, tenant string, res exportResult, accepted bool, took time.Duration) {
	m.requests.WithLabelValues(signal, strconv.Itoa(status), enc.String(), tenant).Inc()
	m.requestDuration.WithLabelValues(signal).Observe(took.Seconds())
	if res.wireBytes > 0 {
		m.receivedBytes.WithLabelValues(signal, "wire").Add(float64(res.wireBytes))
		m.receivedBytes.WithLabelValues(signal, "decompressed").Add(float64(res.bodyBytes))
	}
	if accepted && res.records > 0 {
		m.records.WithLabelValues(signal).Add(float64(res.records))
	}
}

// observeStore counts what the store step did, from the same result the store's health reads.
func (m *metrics) observeStore(signal layout.Signal, res storeResult) {
	for _, op := range res.ops {
		m.storeDuration.WithLabelValues(op.result).Observe(op.took.Seconds())
	}
	if res.blocksCreated > 0 {
		m.blocksWritten.WithLabelValues(string(signal)).Add(float64(res.blocksCreated))
	}
	if res.blocksDuplicate > 0 {
		m.blocksDuplicate.WithLabelValues(string(signal)).Add(float64(res.blocksDuplicate))
	}
	if res.processesCreated > 0 {
		m.processes.Add(float64(res.processesCreated))
	}
}
