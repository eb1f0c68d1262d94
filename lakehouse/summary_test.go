//go:build cgo

package lakehouse

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestASummarySentAsOTLPJSONKeepsItsQuantiles covers the one point type the Go SDK cannot make.
func TestASummarySentAsOTLPJSONKeepsItsQuantiles(t *testing.T) {
	l := startLake(t)
	at := time.Now().Add(-time.Minute).UnixNano()
	body := fmt.Sprintf(`{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"legacy"}}]},
		"scopeMetrics":[{"scope":{"name":"prom"},"metrics":[{"name":"rpc.duration","unit":"s","summary":{"dataPoints":[{
			"timeUnixNano":"%d","count":"4","sum":10.5,
			"quantileValues":[{"quantile":0.5,"value":2},{"quantile":0.99,"value":4.25}],
			"attributes":[{"key":"method","value":{"stringValue":"Get"}}]}]}}]}]}]}`, at)
	resp, err := http.Post(l.URL+"/v1/metrics", "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST OTLP/JSON: %d", resp.StatusCode)
	}
	got := l.one(t, `SELECT kind, temporality, count, sum, value, len(quantiles) AS n, quantiles[2].quantile AS q,
		quantiles[2].value AS v, attributes['method'] AS method, service_name, bucket_counts FROM measures`)
	want := map[string]any{
		"kind": "summary", "temporality": "", "count": float64(4), "sum": 10.5, "value": nil, "n": float64(2),
		"q": 0.99, "v": 4.25, "method": "Get", "service_name": "legacy", "bucket_counts": nil,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
}
