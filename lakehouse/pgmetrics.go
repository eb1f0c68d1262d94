//go:build cgo

package lakehouse

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serveMetrics are the server's Prometheus series. Labels come from bounded sets only: the
// login result, and the SQLSTATEs of docs/contracts/lakehouse.md §4 ("00000" for success).
type serveMetrics struct {
	connections prometheus.Gauge
	logins      *prometheus.CounterVec
	statements  *prometheus.CounterVec
	seconds     prometheus.Histogram
}

func newServeMetrics(reg prometheus.Registerer, slots func() float64) *serveMetrics {
	m := &serveMetrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "telemetrylake_lakehouse_serve_connections",
			Help: "Client connections logged in."}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "telemetrylake_lakehouse_serve_logins_total",
			Help: "Logins by result: accepted, or refused (a bad password, no TLS)."}, []string{"result"}),
		statements: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "telemetrylake_lakehouse_serve_statements_total",
			Help: "Statements answered, by SQLSTATE (00000: success)."}, []string{"sqlstate"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "telemetrylake_lakehouse_serve_statement_seconds",
			Help:    "Time from a statement's arrival to its last row sent, for statements that succeeded.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12)}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.logins, m.statements, m.seconds,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "telemetrylake_lakehouse_serve_queries_running",
				Help: "Statements holding one of the tenant's query slots (--max-concurrent-queries)."}, slots))
	}
	return m
}

// AdminHandler serves /metrics and /healthz for `lakehouse serve --admin-listen`.
func AdminHandler(reg prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	return mux
}
