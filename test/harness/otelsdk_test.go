package harness

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
)

func TestSDKSendsEverySignalToItsPathWithTheToken(t *testing.T) {
	var (
		mu   sync.Mutex
		seen = map[string]string{} // path -> Authorization
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path] = r.Header.Get("Authorization")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(srv.Close)

	sdk := StartSDK(t, SDKConfig{Endpoint: srv.URL + "/ingestion/otlp", Token: "tlk_test"})
	ctx := context.Background()
	var rec otellog.Record
	rec.SetBody(attribute.StringValue("hello"))
	sdk.Logs.Logger("harness").Emit(ctx, rec)
	_, span := sdk.Traces.Tracer("harness").Start(ctx, "span")
	span.End()
	counter, _ := sdk.Metrics.Meter("harness").Int64Counter("harness.items")
	counter.Add(ctx, 1)
	sdk.Shutdown(t)

	for _, signal := range []string{"logs", "traces", "metrics"} {
		path := "/ingestion/otlp/v1/" + signal
		if auth, ok := seen[path]; !ok {
			t.Errorf("nothing was sent to %s; seen: %v", path, seen)
		} else if auth != "Bearer tlk_test" {
			t.Errorf("%s was sent with Authorization %q, want the bearer token", path, auth)
		}
	}
}
