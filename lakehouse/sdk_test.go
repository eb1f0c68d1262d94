//go:build cgo

package lakehouse

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"

	"github.com/telemetrylake/telemetrylake/test/harness"
)

var sdkResource = sdkresource.NewWithAttributes("",
	attribute.String("service.name", "sdk-e2e"), attribute.String("service.version", "1.0.0"),
	attribute.String("host.name", "test-host"), attribute.Int("process.pid", 4242))

// TestSDKTelemetryComesBackOnceWithTheRightValues sends every signal with the OpenTelemetry Go
// SDK's own OTLP/HTTP exporters through a real ingester, then reads it back with `lakehouse sql`.
func TestSDKTelemetryComesBackOnceWithTheRightValues(t *testing.T) {
	for _, b := range harness.Backends() {
		t.Run(b.Name, func(t *testing.T) { sdkTelemetryOnce(t, startLakeOn(t, b.Storage(t))) })
	}
}

func sdkTelemetryOnce(t *testing.T, l *lake) {
	const n = 20
	sendSDKTelemetry(t, l, n)

	// The same answers must come from blocks decoded on the fly and from materialized parts,
	// which round-trip every column type through Parquet.
	t.Run("decoded on the fly", func(t *testing.T) { checkSDKTelemetry(t, l, n) })
	m := l.lakehouse(t, "materialize", "--since", "2h", "--until", time.Now().Add(time.Hour).Format(time.RFC3339))
	if m.code != 0 || !strings.Contains(m.stdout, "0 already there") {
		t.Fatalf("materialize exited %d:\n%s%s", m.code, m.stdout, m.stderr)
	}
	if got := len(l.keys(t, "tables/")); got != 4 {
		t.Errorf("materialize wrote %d parts, want one per table (4):\n%s", got, m.stdout)
	}
	t.Run("read from parts", func(t *testing.T) { checkSDKTelemetry(t, l, n) })
}

func checkSDKTelemetry(t *testing.T, l *lake, n int) {
	t.Run("every log comes back once, with its body and attributes", func(t *testing.T) {
		got := l.one(t, `SELECT count(*) AS n, count(DISTINCT body) AS bodies FROM log_entries WHERE body LIKE 'log line %'`)
		if got["n"] != float64(n) || got["bodies"] != float64(n) {
			t.Errorf("string-bodied logs: %v, want %d rows and %d bodies", got, n, n)
		}
		row := l.one(t, `SELECT body, severity_number, severity_text, event_name, attributes, scope_name, service_name,
			length(trace_id) AS trace_len, process_id = (SELECT process_id FROM processes) AS same_process
			FROM log_entries WHERE event_name = 'order.placed'`)
		if row["body"] != `{"order":"o-1","qty":2}` {
			t.Errorf("a structured body is %v, want compact JSON", row["body"])
		}
		want := map[string]any{
			"s": "text", "b": "true", "i": "42", "d": "1.5", "bytes": `"AAEC"`,
			"arr": `["a","b"]`, "map": `{"k":"v"}`,
		}
		attrs, _ := row["attributes"].(map[string]any)
		for k, v := range want {
			if attrs[k] != v {
				t.Errorf("attribute %s = %#v, want %#v", k, attrs[k], v)
			}
		}
		if row["severity_number"] != float64(17) || row["severity_text"] != "ERROR" || row["scope_name"] != "e2e" ||
			row["service_name"] != "sdk-e2e" || row["trace_len"] != float64(0) || row["same_process"] != true {
			t.Errorf("structured log row = %v", row)
		}
	})

	t.Run("spans keep their parent, events, links and error status", func(t *testing.T) {
		rows := l.query(t, `SELECT c.name, c.parent_span_id = p.span_id AS parent_ok, c.trace_id = p.trace_id AS same_trace,
				c.status_code, c.status_message, c.kind, len(c.events) AS events, c.events[1].name AS event,
				c.events[1].attributes['attempt'] AS attempt, len(c.links) AS links,
				c.links[1].span_id = o.span_id AS link_ok, c.links[1].attributes['why'] AS why,
				c.duration_ns > 0 AS timed, p.parent_span_id AS root_parent, p.kind AS parent_kind
			FROM otel_spans c JOIN otel_spans p ON c.parent_span_id = p.span_id
			JOIN otel_spans o ON o.name = 'other'
			WHERE c.name = 'child'`)
		if len(rows) != 1 {
			t.Fatalf("child joined to its parent: %d rows, want 1: %v", len(rows), rows)
		}
		got := rows[0]
		want := map[string]any{
			"parent_ok": true, "same_trace": true, "status_code": "error", "status_message": "upstream timed out",
			"kind": "internal", "events": float64(1), "event": "cache.miss", "attempt": "2", "links": float64(1),
			"link_ok": true, "why": "retry", "timed": true, "root_parent": "", "parent_kind": "server",
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %#v, want %#v", k, got[k], v)
			}
		}
		if c := l.one(t, `SELECT count(*) AS n FROM otel_spans`); c["n"] != float64(3) {
			t.Errorf("%v spans, want 3", c["n"])
		}
	})

	t.Run("every metric type lands in measures with its shape", func(t *testing.T) {
		rows := l.query(t, `SELECT name, kind, temporality, is_monotonic, value, count, sum, bucket_bounds, bucket_counts,
				exp_scale IS NOT NULL AS has_scale, list_sum(exp_positive_counts) + exp_zero_count AS exp_total, attributes
			FROM measures ORDER BY name`)
		byName := map[string]map[string]any{}
		for _, r := range rows {
			if byName[r["name"].(string)] != nil {
				t.Errorf("metric %s has more than one point: %v", r["name"], rows)
			}
			byName[r["name"].(string)] = r
		}
		check := func(name string, want map[string]any) {
			r := byName[name]
			if r == nil {
				t.Errorf("metric %s is missing", name)
				return
			}
			for k, v := range want {
				if fmt.Sprint(r[k]) != fmt.Sprint(v) {
					t.Errorf("%s.%s = %v, want %v", name, k, r[k], v)
				}
			}
		}
		check("e2e.requests", map[string]any{"kind": "sum", "temporality": "cumulative", "is_monotonic": true, "value": 7, "attributes": map[string]any{"route": "/a"}})
		check("e2e.queue", map[string]any{"kind": "sum", "is_monotonic": false, "value": 3})
		check("e2e.temperature", map[string]any{"kind": "gauge", "temporality": "", "value": 21.5})
		check("e2e.latency", map[string]any{"kind": "histogram", "count": 10, "sum": 31, "bucket_bounds": []any{1, 2, 5, 10}, "bucket_counts": []any{1, 3, 4, 2, 0}})
		check("e2e.size", map[string]any{"kind": "exponential_histogram", "count": 4, "sum": 15, "has_scale": true, "exp_total": 4})
		if len(rows) != 5 {
			t.Errorf("%d measures, want 5 (one point per instrument)", len(rows))
		}
	})

	t.Run("histogram_quantile over the SDK's histogram matches the hand-computed value", func(t *testing.T) {
		// Buckets (0,1] (1,2] (2,5] (5,10] (10,+Inf) hold 1, 3, 4, 2, 0. The median's rank is 5:
		// 4 values lie below (2,5], so it is 1/4 of the way into it: 2 + 3·(1/4) = 2.75.
		got := l.one(t, `SELECT histogram_quantile(0.5, bucket_bounds, bucket_counts) AS p50 FROM measures WHERE name = 'e2e.latency'`)
		if got["p50"] != 2.75 {
			t.Errorf("p50 = %v, want 2.75", got["p50"])
		}
	})

	t.Run("the one SDK process is one row of processes", func(t *testing.T) {
		rows := l.query(t, `SELECT service_name, service_version, host_name, telemetry_sdk_language, resource_attributes['process.pid'] AS pid FROM processes`)
		if len(rows) != 1 {
			t.Fatalf("%d processes, want 1: %v", len(rows), rows)
		}
		want := map[string]any{"service_name": "sdk-e2e", "service_version": "1.0.0", "host_name": "test-host", "telemetry_sdk_language": "", "pid": "4242"}
		for k, v := range want {
			if rows[0][k] != v {
				t.Errorf("%s = %#v, want %#v", k, rows[0][k], v)
			}
		}
	})
}

// sendSDKTelemetry sends every signal with the SDK: n string-bodied logs and one structured log,
// three spans, and one point of each kind of metric.
func sendSDKTelemetry(t *testing.T, l *lake, n int) {
	ctx := context.Background()
	// Exponential histograms are aggregated only where a view asks for them.
	exponential := sdkmetric.NewView(sdkmetric.Instrument{Name: "e2e.size"},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}})
	sdk := harness.StartSDK(t, harness.SDKConfig{Endpoint: l.URL, Resource: sdkResource, MetricViews: []sdkmetric.View{exponential}})
	emitSDKLogs(ctx, sdk, n)
	emitSDKSpans(ctx, sdk)
	emitSDKMetrics(ctx, sdk)
	// The one metric export is the one Shutdown makes, so each instrument has one point.
	sdk.Shutdown(t)
}

func emitSDKLogs(ctx context.Context, sdk *harness.SDK, n int) {
	logger := sdk.Logs.Logger("e2e")
	for i := range n {
		var rec otellog.Record
		rec.SetTimestamp(time.Now())
		rec.SetSeverity(otellog.SeverityInfo)
		rec.SetBody(attribute.StringValue(fmt.Sprintf("log line %d", i)))
		rec.AddAttributes(attribute.Int("i", i))
		logger.Emit(ctx, rec)
	}
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetSeverity(otellog.SeverityError)
	rec.SetSeverityText("ERROR")
	rec.SetEventName("order.placed")
	rec.SetBody(attribute.MapValue(attribute.String("order", "o-1"), attribute.Int("qty", 2)))
	rec.AddAttributes(
		attribute.String("s", "text"), attribute.Bool("b", true), attribute.Int64("i", 42),
		attribute.Float64("d", 1.5), attribute.ByteSlice("bytes", []byte{0, 1, 2}),
		attribute.StringSlice("arr", []string{"a", "b"}), attribute.Map("map", attribute.String("k", "v")),
	)
	logger.Emit(ctx, rec)
}

func emitSDKSpans(ctx context.Context, sdk *harness.SDK) {
	tracer := sdk.Traces.Tracer("e2e")
	_, other := tracer.Start(ctx, "other")
	other.End()
	pctx, parent := tracer.Start(ctx, "parent", trace.WithSpanKind(trace.SpanKindServer))
	_, child := tracer.Start(pctx, "child", trace.WithLinks(trace.Link{
		SpanContext: other.SpanContext(), Attributes: []attribute.KeyValue{attribute.String("why", "retry")},
	}))
	child.AddEvent("cache.miss", trace.WithAttributes(attribute.Int("attempt", 2)))
	child.SetStatus(codes.Error, "upstream timed out")
	child.End()
	parent.End()
}

func emitSDKMetrics(ctx context.Context, sdk *harness.SDK) {
	meter := sdk.Metrics.Meter("e2e")
	requests, _ := meter.Int64Counter("e2e.requests")
	queue, _ := meter.Int64UpDownCounter("e2e.queue")
	temperature, _ := meter.Float64Gauge("e2e.temperature")
	latency, _ := meter.Float64Histogram("e2e.latency", metric.WithUnit("ms"), metric.WithExplicitBucketBoundaries(1, 2, 5, 10))
	size, _ := meter.Float64Histogram("e2e.size")
	route := metric.WithAttributes(attribute.String("route", "/a"))
	requests.Add(ctx, 3, route)
	requests.Add(ctx, 4, route)
	queue.Add(ctx, 5)
	queue.Add(ctx, -2)
	temperature.Record(ctx, 21.5)
	for _, v := range []float64{0.5, 1.5, 1.5, 1.5, 3, 3, 3, 3, 7, 7} {
		latency.Record(ctx, v)
	}
	for _, v := range []float64{1, 2, 4, 8} {
		size.Record(ctx, v)
	}
}
