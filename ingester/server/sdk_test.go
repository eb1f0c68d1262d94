package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"

	"github.com/telemetrylake/telemetrylake/ingester/otlpwire"
	lakeblocks "github.com/telemetrylake/telemetrylake/lake/blocks"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// TestRealSDKExportersLandEveryRecord sends all three signals with the OpenTelemetry Go SDK's own
// OTLP/HTTP exporters, configured only by the standard environment variables, and then finds every
// record in the stored blocks.
func TestRealSDKExportersLandEveryRecord(t *testing.T) {
	for _, l := range layouts() {
		for _, b := range backends() {
			t.Run(l.name+"/"+b.name, func(t *testing.T) { sdkExportersLandEveryRecord(t, b.open(t), l.configure) })
		}
	}
}

func sdkExportersLandEveryRecord(t *testing.T, st store.Store, configure func(*Options)) {
	ing := startIngester(t, st, configure)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", ing.URL+"/ingestion/otlp")
	// gzip, as most production SDK configurations send.
	t.Setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")

	const n = 50
	ctx := context.Background()
	res := sdkresource.NewWithAttributes("", attribute.String("service.name", "sdk-e2e"),
		attribute.String("host.name", "test-host"), attribute.Int("process.pid", 4242))
	sdk := harness.StartSDK(t, harness.SDKConfig{Resource: res})
	emitLogs(ctx, sdk, n)
	emitSpans(ctx, sdk, n)
	emitMetrics(ctx, sdk, n)
	sdk.Shutdown(t)

	got := readBack(t, st)
	for i := 0; i < n; i++ {
		if !got.LogBodies[fmt.Sprintf("log line %d", i)] {
			t.Errorf("log line %d is missing", i)
		}
		if !got.SpanNames[fmt.Sprintf("operation-%d", i)] {
			t.Errorf("span operation-%d is missing", i)
		}
	}
	// Cumulative: the last export carries the total.
	if sum := got.SumMax["e2e.items"]; sum != n*(n-1)/2 {
		t.Errorf("counter e2e.items sums to %d, want %d", sum, n*(n-1)/2)
	}
	if count := got.HistogramCount["e2e.latency"]; count != n {
		t.Errorf("histogram e2e.latency counts %d points, want %d", count, n)
	}
	if got.processRecords != 1 {
		t.Errorf("%d process records, want 1 for the one SDK process", got.processRecords)
	}
	if got.LogBodies["log line 0"] && ing.counter(t, "telemetrylake_ingester_blocks_written_total", nil) == 0 {
		t.Error("blocks landed but telemetrylake_ingester_blocks_written_total did not count them")
	}
}

func emitLogs(ctx context.Context, sdk *harness.SDK, n int) {
	logger := sdk.Logs.Logger("e2e")
	for i := 0; i < n; i++ {
		var rec otellog.Record
		rec.SetTimestamp(time.Now())
		rec.SetSeverity(otellog.SeverityInfo)
		rec.SetBody(attribute.StringValue(fmt.Sprintf("log line %d", i)))
		rec.AddAttributes(attribute.Int("i", i))
		logger.Emit(ctx, rec)
	}
}

func emitSpans(ctx context.Context, sdk *harness.SDK, n int) {
	tracer := sdk.Traces.Tracer("e2e")
	for i := 0; i < n; i++ {
		_, span := tracer.Start(ctx, fmt.Sprintf("operation-%d", i))
		span.End()
	}
}

func emitMetrics(ctx context.Context, sdk *harness.SDK, n int) {
	meter := sdk.Metrics.Meter("e2e")
	items, _ := meter.Int64Counter("e2e.items")
	latency, _ := meter.Float64Histogram("e2e.latency", metric.WithUnit("ms"))
	for i := 0; i < n; i++ {
		items.Add(ctx, int64(i))
		latency.Record(ctx, float64(i))
	}
}

// landed is what the stored blocks hold, decoded.
type landed struct {
	*harness.Landed
	processRecords int
}

// readBack decodes every stored block, in either layout, the way a reader of the lake would
// (lake/blocks), and checks that each is a one-entry request under its own content address, with
// the metadata of its signal when it is an object of its own.
func readBack(t *testing.T, st store.Store) landed {
	t.Helper()
	ctx := context.Background()
	found, skipped, err := lakeblocks.List(ctx, st, lakeblocks.Filter{})
	if err != nil || len(skipped) > 0 {
		t.Fatalf("reading the lake: %v; segments not intact: %v", err, skipped)
	}
	got := landed{Landed: harness.NewLanded()}
	for _, f := range found {
		object, meta, err := st.Get(ctx, f.Ref.Key)
		if err != nil {
			t.Fatal(err)
		}
		data, err := f.Bytes(object)
		if err != nil {
			t.Fatal(err)
		}
		if f.Segment == nil && (meta[layout.MetaFormat] != layout.FormatOTLPv1 || meta[layout.MetaSignal] != string(f.Ref.Signal)) {
			t.Errorf("block %s has metadata %v", f.Ref.Key, meta)
		}
		blocks, err := otlpwire.Split(f.Ref.Signal, data)
		if err != nil || len(blocks) != 1 || layout.BlockID(f.Ref.Signal, blocks[0].Bytes).String() != f.Ref.ID {
			t.Errorf("block %s in %s is not a one-entry request under its own content address: %v", f.Ref.ID, f.Ref.Key, err)
		}
		got.Add(t, f.Ref, data)
	}
	for _, key := range storedKeys(t, st) {
		if strings.HasPrefix(key, layout.ProcessesPrefix+"/") {
			got.processRecords++
		}
	}
	return got
}
