package provision

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestEveryStoreRequestIsCountedAndTimed provisions a tenant against a real SeaweedFS and checks
// that every request the store saw (the recorder sits where the SDK hands a request to HTTP) is
// in telemetrylake_store_requests_total and in telemetrylake_store_request_duration_seconds, by
// API. Not parallel: it reads the process's metrics, which parallel tests would move.
func TestEveryStoreRequestIsCountedAndTimed(t *testing.T) {
	_, prov, rec := startStore(t)
	tenant := Tenant{"team-metrics", "lake"}
	p := placement(t, BucketPerTenant, "", tenant)
	before := storeMetrics(t)
	rec.reset()
	if err := prov.EnsureStorage(ctx, p, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := prov.EnsureCredentials(ctx, tenant, p, nil); err != nil {
		t.Fatal(err)
	}
	after := storeMetrics(t)

	seen := map[string]float64{}
	rec.mu.Lock()
	for _, op := range rec.ops {
		api, _, _ := strings.Cut(op, " ")
		seen[api]++
	}
	rec.mu.Unlock()
	for _, api := range []string{"S3", "IAM"} {
		counted := after.counted[api] - before.counted[api]
		timed := after.timed[api] - before.timed[api]
		if seen[api] == 0 || counted != seen[api] || timed != seen[api] {
			t.Errorf("%s: the store saw %v requests, the counter says %v and the histogram %v", api, seen[api], counted, timed)
		}
		if took := after.seconds[api] - before.seconds[api]; timed > 0 && took <= 0 {
			t.Errorf("%s: %v requests timed in %v s in all", api, timed, took)
		}
	}
}

type storeTotals struct{ counted, timed, seconds map[string]float64 }

// storeMetrics sums the store request metrics by API.
func storeMetrics(t *testing.T) storeTotals {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(Requests, RequestDuration)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	s := storeTotals{counted: map[string]float64{}, timed: map[string]float64{}, seconds: map[string]float64{}}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var api string
			for _, l := range m.GetLabel() {
				if l.GetName() == "api" {
					api = l.GetValue()
				}
			}
			switch f.GetName() {
			case "telemetrylake_store_requests_total":
				s.counted[api] += m.GetCounter().GetValue()
			case "telemetrylake_store_request_duration_seconds":
				s.timed[api] += float64(m.GetHistogram().GetSampleCount())
				s.seconds[api] += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return s
}
