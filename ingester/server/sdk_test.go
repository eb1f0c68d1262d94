package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/protobuf/proto"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"

	"github.com/telemetrylake/telemetrylake/ingester/otlpwire"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
)

// TestRealSDKExportersLandEveryRecord sends all three signals with the OpenTelemetry Go SDK's own
// OTLP/HTTP exporters, configured only by the standard environment variables, and then finds every
// record in the stored blocks.
func TestRealSDKExportersLandEveryRecord(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			ing := startIngester(t, st)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", ing.URL+"/ingestion/otlp")
			// gzip, as most production SDK configurations send.
			t.Setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")

			const n = 50
			ctx := context.Background()
			res := sdkresource.NewWithAttributes("", attribute.String("service.name", "sdk-e2e"),
				attribute.String("host.name", "test-host"), attribute.Int("process.pid", 4242))
			sendLogs(t, ctx, res, n)
			sendSpans(t, ctx, res, n)
			sendMetrics(t, ctx, res, n)

			got := readBack(t, st)
			for i := 0; i < n; i++ {
				if !got.logBodies[fmt.Sprintf("log line %d", i)] {
					t.Errorf("log line %d is missing", i)
				}
				if !got.spanNames[fmt.Sprintf("operation-%d", i)] {
					t.Errorf("span operation-%d is missing", i)
				}
			}
			if got.counterSum != n*(n-1)/2 {
				t.Errorf("counter e2e.items sums to %d, want %d", got.counterSum, n*(n-1)/2)
			}
			if got.histogramCount != n {
				t.Errorf("histogram e2e.latency counts %d points, want %d", got.histogramCount, n)
			}
			if got.processRecords != 1 {
				t.Errorf("%d process records, want 1 for the one SDK process", got.processRecords)
			}
			if got.logBodies["log line 0"] && ing.counter(t, "telemetrylake_ingester_blocks_written_total", nil) == 0 {
				t.Error("blocks landed but telemetrylake_ingester_blocks_written_total did not count them")
			}
		})
	}
}

func sendLogs(t *testing.T, ctx context.Context, res *sdkresource.Resource, n int) {
	exp, err := otlploghttp.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)))
	logger := lp.Logger("e2e")
	for i := 0; i < n; i++ {
		var rec otellog.Record
		rec.SetTimestamp(time.Now())
		rec.SetSeverity(otellog.SeverityInfo)
		rec.SetBody(attribute.StringValue(fmt.Sprintf("log line %d", i)))
		rec.AddAttributes(attribute.Int("i", i))
		logger.Emit(ctx, rec)
	}
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatalf("log export: %v", err)
	}
}

func sendSpans(t *testing.T, ctx context.Context, res *sdkresource.Resource, n int) {
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(exp))
	tracer := tp.Tracer("e2e")
	for i := 0; i < n; i++ {
		_, span := tracer.Start(ctx, fmt.Sprintf("operation-%d", i))
		span.End()
	}
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("trace export: %v", err)
	}
}

func sendMetrics(t *testing.T, ctx context.Context, res *sdkresource.Resource, n int) {
	exp, err := otlpmetrichttp.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
	meter := mp.Meter("e2e")
	items, _ := meter.Int64Counter("e2e.items")
	latency, _ := meter.Float64Histogram("e2e.latency", metric.WithUnit("ms"))
	for i := 0; i < n; i++ {
		items.Add(ctx, int64(i))
		latency.Record(ctx, float64(i))
	}
	// Shutdown collects and exports one last time.
	if err := mp.Shutdown(ctx); err != nil {
		t.Fatalf("metric export: %v", err)
	}
}

// landed is what the stored blocks hold, decoded.
type landed struct {
	logBodies      map[string]bool
	spanNames      map[string]bool
	counterSum     int64
	histogramCount uint64
	processRecords int
}

// readBack decodes every stored block, the way a reader of the lake would.
func readBack(t *testing.T, st store.Store) landed {
	t.Helper()
	ctx := context.Background()
	got := landed{logBodies: map[string]bool{}, spanNames: map[string]bool{}}
	for _, key := range storedKeys(t, st) {
		data, meta, err := st.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		ref, isBlock := layout.ParseBlockKey(key)
		if !isBlock {
			got.processRecords++
			continue
		}
		if meta[layout.MetaFormat] != layout.FormatOTLPv1 || meta[layout.MetaSignal] != string(ref.Signal) {
			t.Errorf("block %s has metadata %v", key, meta)
		}
		blocks, err := otlpwire.Split(ref.Signal, data)
		if err != nil || len(blocks) != 1 || layout.BlockID(ref.Signal, blocks[0].Bytes).String() != ref.ID {
			t.Errorf("block %s is not a one-entry request under its own content address: %v", key, err)
		}
		switch ref.Signal {
		case layout.Logs:
			var req collogspb.ExportLogsServiceRequest
			mustUnmarshal(t, data, &req)
			for _, rl := range req.ResourceLogs {
				for _, sl := range rl.ScopeLogs {
					for _, lr := range sl.LogRecords {
						got.logBodies[lr.GetBody().GetStringValue()] = true
					}
				}
			}
		case layout.Traces:
			var req coltracepb.ExportTraceServiceRequest
			mustUnmarshal(t, data, &req)
			for _, rs := range req.ResourceSpans {
				for _, ss := range rs.ScopeSpans {
					for _, sp := range ss.Spans {
						got.spanNames[sp.Name] = true
					}
				}
			}
		case layout.Metrics:
			var req colmetricspb.ExportMetricsServiceRequest
			mustUnmarshal(t, data, &req)
			for _, rm := range req.ResourceMetrics {
				for _, sm := range rm.ScopeMetrics {
					for _, m := range sm.Metrics {
						switch m.Name {
						case "e2e.items":
							// Cumulative: the last export carries the total.
							for _, dp := range m.GetSum().GetDataPoints() {
								got.counterSum = max(got.counterSum, dp.GetAsInt())
							}
						case "e2e.latency":
							for _, dp := range m.GetHistogram().GetDataPoints() {
								got.histogramCount = max(got.histogramCount, dp.GetCount())
							}
						}
					}
				}
			}
		}
	}
	return got
}

func mustUnmarshal(t *testing.T, b []byte, m proto.Message) {
	t.Helper()
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
}
