package auth

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// TestSDKExporterAuthenticatesFromTheEnvironment configures the OpenTelemetry Go SDK's OTLP/HTTP
// trace exporter only through OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS, in the
// form `ingester token new` tells users to write, and finds its spans in the store.
func TestSDKExporterAuthenticatesFromTheEnvironment(t *testing.T) {
	tok, entry := newTestToken(t, "sdk-app")
	chain, _ := newChain(t, ingesterconfig.Auth{TokenFile: writeTempTokenFile(t, entry)}, Options{})
	ing := startIngester(t, chain)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", ing.URL)

	// send exports spans with the SDK's exporter and returns its error, which the tracer provider
	// would only hand to the global error handler.
	send := func(t *testing.T, n int, prefix string) error {
		ctx := context.Background()
		exp := harness.TraceExporter(t, harness.SDKConfig{})
		defer exp.Shutdown(ctx)
		res := sdkresource.NewWithAttributes("", attribute.String("service.name", "sdk-auth"))
		var stubs tracetest.SpanStubs
		for i := range n {
			stubs = append(stubs, tracetest.SpanStub{
				Name:        fmt.Sprintf("%s-%d", prefix, i),
				SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{byte(i + 1)}}),
				StartTime:   time.Now(),
				EndTime:     time.Now(),
				Resource:    res,
			})
		}
		return exp.ExportSpans(ctx, stubs.Snapshots())
	}

	t.Run("spans sent with a valid token land", func(t *testing.T) {
		t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer "+tok)
		if err := send(t, 5, "authorized"); err != nil {
			t.Fatalf("export: %v", err)
		}
		got := spanNames(t, ing.Store)
		for i := range 5 {
			if !got[fmt.Sprintf("authorized-%d", i)] {
				t.Errorf("span authorized-%d is missing; stored: %v", i, got)
			}
		}
	})

	t.Run("spans sent with an unknown token are refused and do not land", func(t *testing.T) {
		other, _ := newTestToken(t, "not-in-the-file")
		t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer "+other)
		err := send(t, 1, "unauthorized")
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("the exporter reported %v, want a 401", err)
		}
		if got := spanNames(t, ing.Store); got["unauthorized-0"] {
			t.Fatal("a span sent with an unknown token landed")
		}
	})
}
