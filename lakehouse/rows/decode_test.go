package rows

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/telemetrylake/telemetrylake/ingester/otlpwire"
	"github.com/telemetrylake/telemetrylake/lake/layout"
)

const t0 = uint64(1_764_000_000_000_000_000) // 2025-11-24T16:00:00Z

func str(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}
func i64(v int64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}
}
func kv(k string, v *commonpb.AnyValue) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: v}
}

// everyType is one attribute of each AnyValue type.
var everyType = []*commonpb.KeyValue{
	kv("s", str("plain \"text\"")),
	kv("b", &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}),
	kv("i", i64(-9007199254740993)), // not representable as float64: must stay exact
	kv("d", &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 1.5}}),
	kv("bytes", &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 1, 2}}}),
	kv("arr", &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{i64(1), str("x")}}}}),
	kv("map", &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{kv("k", str("v"))}}}}),
	kv("empty", &commonpb.AnyValue{}),
	kv("s", str("a second value for s is ignored")),
}

var everyTypeText = Attrs{
	"s": `plain "text"`, "b": "true", "i": "-9007199254740993", "d": "1.5", "bytes": `"AAEC"`,
	"arr": `[1,"x"]`, "map": `{"k":"v"}`, "empty": "null",
}

var resource = &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
	kv("service.name", str("checkout")), kv("service.namespace", str("shop")),
	kv("service.version", str("1.2.3")), kv("service.instance.id", str("i-1")),
	kv("host.name", str("web-1")), kv("telemetry.sdk.language", str("go")),
	kv("process.pid", i64(4242)),
}}

// processID is what the ingester computes for resource, so rows must carry the same id.
func processID(t *testing.T) string {
	b, err := proto.Marshal(resource)
	if err != nil {
		t.Fatal(err)
	}
	return otlpwire.ProcessID(b).String()
}

func block(t *testing.T, signal layout.Signal, m proto.Message) Block {
	t.Helper()
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return Block{Signal: signal, ID: layout.BlockID(signal, data).String(), Data: data}
}

func ptr[T any](v T) *T { return &v }

var (
	traceID = []byte{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c}
	spanID  = []byte{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74}
	parent  = []byte{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01}
)

func TestDecodeLogs(t *testing.T) {
	req := &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource:  resource,
		SchemaUrl: "https://opentelemetry.io/schemas/1.26.0",
		ScopeLogs: []*logspb.ScopeLogs{{
			Scope: &commonpb.InstrumentationScope{Name: "app", Version: "0.1"},
			LogRecords: []*logspb.LogRecord{
				{
					TimeUnixNano: t0 + 5, ObservedTimeUnixNano: t0 + 9, SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_WARN,
					SeverityText: "WARN", Body: str("disk almost full"), Attributes: everyType,
					TraceId: traceID, SpanId: spanID, Flags: 1, EventName: "disk.warning",
				},
				// No time of its own: the observed time stands in. A structured body is JSON.
				{ObservedTimeUnixNano: t0 + 2, Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{kv("order", i64(7))}}}}},
				// No body at all is NULL, not "".
				{TimeUnixNano: t0 + 3},
			},
		}},
	}}}
	blk := block(t, layout.Logs, req)
	var b Batch
	if err := Decode(blk, &b); err != nil {
		t.Fatal(err)
	}
	prov := Provenance{ProcessID: processID(t), ServiceName: "checkout", BlockID: blk.ID}
	want := []LogEntry{
		{
			Time: t0 + 5, ObservedTime: t0 + 9, SeverityNumber: 13, SeverityText: "WARN",
			Body: ptr("disk almost full"), EventName: "disk.warning", Attributes: everyTypeText,
			TraceID: "5b8efff798038103d269b633813fc60c", SpanID: "eee19b7ec3c1b174", Flags: 1,
			ScopeName: "app", ScopeVersion: "0.1", Provenance: prov,
		},
		{Time: t0 + 2, ObservedTime: t0 + 2, Body: ptr(`{"order":7}`), ScopeName: "app", ScopeVersion: "0.1", Provenance: prov},
		{Time: t0 + 3, ScopeName: "app", ScopeVersion: "0.1", Provenance: prov},
	}
	if !reflect.DeepEqual(b.Logs, want) {
		t.Errorf("log rows:\n got %+v\nwant %+v", b.Logs, want)
	}
	wantProcess := []Process{{
		ProcessID: processID(t), ServiceName: "checkout", ServiceNamespace: "shop", ServiceVersion: "1.2.3",
		ServiceInstanceID: "i-1", HostName: "web-1", TelemetrySDKLanguage: "go",
		ResourceAttributes: Attrs{
			"service.name": "checkout", "service.namespace": "shop", "service.version": "1.2.3",
			"service.instance.id": "i-1", "host.name": "web-1", "telemetry.sdk.language": "go", "process.pid": "4242",
		},
		SchemaURL: "https://opentelemetry.io/schemas/1.26.0", FirstSeen: t0 + 2, BlockID: blk.ID,
	}}
	if !reflect.DeepEqual(b.Processes, wantProcess) {
		t.Errorf("process rows:\n got %+v\nwant %+v", b.Processes, wantProcess)
	}
	if got := len(b.Logs[0].Values()); got != len(LogEntries.Columns) {
		t.Errorf("a log row renders %d values for %d columns", got, len(LogEntries.Columns))
	}
}

// TestDecodeMetricsKeepsEveryPointType pins docs/contracts/lakehouse.md §1: every point type in
// measures.
func TestDecodeMetricsKeepsEveryPointType(t *testing.T) {
	metrics := []*metricspb.Metric{
		{Name: "requests", Unit: "1", Description: "served", Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{
			AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE, IsMonotonic: true,
			DataPoints: []*metricspb.NumberDataPoint{{StartTimeUnixNano: t0 - 60, TimeUnixNano: t0 + 10, Value: &metricspb.NumberDataPoint_AsInt{AsInt: 42}, Attributes: []*commonpb.KeyValue{kv("route", str("/a"))}}},
		}}},
		{Name: "temperature", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{
			DataPoints: []*metricspb.NumberDataPoint{
				{TimeUnixNano: t0 + 20, Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: 21.5}},
				{TimeUnixNano: t0 + 21, Flags: 1}, // no recorded value
			},
		}}},
		{Name: "latency", Unit: "ms", Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{
			AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA,
			DataPoints: []*metricspb.HistogramDataPoint{{
				TimeUnixNano: t0 + 30, Count: 10, Sum: ptr(41.0), Min: ptr(0.5), Max: ptr(9.0),
				ExplicitBounds: []float64{1, 2, 5, 10}, BucketCounts: []uint64{1, 3, 4, 2, 0},
			}},
		}}},
		{Name: "size", Data: &metricspb.Metric_ExponentialHistogram{ExponentialHistogram: &metricspb.ExponentialHistogram{
			AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
			DataPoints: []*metricspb.ExponentialHistogramDataPoint{{
				TimeUnixNano: t0 + 40, Count: 6, Sum: ptr(30.0), Scale: 2, ZeroCount: 1, ZeroThreshold: 0.001,
				Positive: &metricspb.ExponentialHistogramDataPoint_Buckets{Offset: 3, BucketCounts: []uint64{2, 2}},
				Negative: &metricspb.ExponentialHistogramDataPoint_Buckets{Offset: -1, BucketCounts: []uint64{1}},
			}},
		}}},
		{Name: "rpc.duration", Data: &metricspb.Metric_Summary{Summary: &metricspb.Summary{
			DataPoints: []*metricspb.SummaryDataPoint{{
				TimeUnixNano: t0 + 50, Count: 4, Sum: 10,
				QuantileValues: []*metricspb.SummaryDataPoint_ValueAtQuantile{{Quantile: 0.5, Value: 2}, {Quantile: 0.99, Value: 4}},
			}},
		}}},
	}
	req := &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource:     resource,
		ScopeMetrics: []*metricspb.ScopeMetrics{{Scope: &commonpb.InstrumentationScope{Name: "meter"}, Metrics: metrics}},
	}}}
	blk := block(t, layout.Metrics, req)
	var b Batch
	if err := Decode(blk, &b); err != nil {
		t.Fatal(err)
	}
	prov := Provenance{ProcessID: processID(t), ServiceName: "checkout", BlockID: blk.ID}
	base := Measure{ScopeName: "meter", Provenance: prov}
	with := func(f func(*Measure)) Measure { m := base; f(&m); return m }
	want := []Measure{
		with(func(m *Measure) {
			m.Time, m.StartTime, m.Name, m.Unit, m.Description = t0+10, t0-60, "requests", "1", "served"
			m.Kind, m.Temporality, m.IsMonotonic, m.Value = KindSum, "cumulative", true, ptr(42.0)
			m.Attributes = Attrs{"route": "/a"}
		}),
		with(func(m *Measure) { m.Time, m.Name, m.Kind, m.Value = t0+20, "temperature", KindGauge, ptr(21.5) }),
		with(func(m *Measure) { m.Time, m.Name, m.Kind, m.Flags = t0+21, "temperature", KindGauge, 1 }),
		with(func(m *Measure) {
			m.Time, m.Name, m.Unit, m.Kind, m.Temporality = t0+30, "latency", "ms", KindHistogram, "delta"
			m.Count, m.Sum, m.Min, m.Max = ptr(uint64(10)), ptr(41.0), ptr(0.5), ptr(9.0)
			m.BucketBounds, m.BucketCounts = []float64{1, 2, 5, 10}, []uint64{1, 3, 4, 2, 0}
		}),
		with(func(m *Measure) {
			m.Time, m.Name, m.Kind, m.Temporality = t0+40, "size", KindExponentialHistogram, "cumulative"
			m.Count, m.Sum = ptr(uint64(6)), ptr(30.0)
			m.ExpScale, m.ExpZeroCount, m.ExpZeroThreshold = ptr(int32(2)), ptr(uint64(1)), ptr(0.001)
			m.ExpPositiveOffset, m.ExpPositiveCounts = ptr(int32(3)), []uint64{2, 2}
			m.ExpNegativeOffset, m.ExpNegativeCounts = ptr(int32(-1)), []uint64{1}
		}),
		with(func(m *Measure) {
			m.Time, m.Name, m.Kind = t0+50, "rpc.duration", KindSummary
			m.Count, m.Sum = ptr(uint64(4)), ptr(10.0)
			m.Quantiles = []Quantile{{0.5, 2}, {0.99, 4}}
		}),
	}
	if len(b.Measures) != len(want) {
		t.Fatalf("%d measure rows, want %d: %+v", len(b.Measures), len(want), b.Measures)
	}
	for i := range want {
		if !reflect.DeepEqual(b.Measures[i], want[i]) {
			t.Errorf("measure %d (%s):\n got %+v\nwant %+v", i, want[i].Name, b.Measures[i], want[i])
		}
		if got := len(b.Measures[i].Values()); got != len(Measures.Columns) {
			t.Errorf("measure %d renders %d values for %d columns", i, got, len(Measures.Columns))
		}
	}
	if len(b.Processes) != 1 || b.Processes[0].FirstSeen != t0+10 {
		t.Errorf("processes = %+v, want one first seen at the earliest point", b.Processes)
	}
}

func TestDecodeSpans(t *testing.T) {
	req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: resource,
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{Name: "tracer"},
			Spans: []*tracepb.Span{{
				TraceId: traceID, SpanId: spanID, ParentSpanId: parent, Name: "GET /cart",
				Kind: tracepb.Span_SPAN_KIND_SERVER, StartTimeUnixNano: t0 + 100, EndTimeUnixNano: t0 + 350,
				Attributes: []*commonpb.KeyValue{kv("http.status_code", i64(500))},
				Events:     []*tracepb.Span_Event{{TimeUnixNano: t0 + 200, Name: "exception", Attributes: []*commonpb.KeyValue{kv("exception.type", str("Timeout"))}}},
				Links:      []*tracepb.Span_Link{{TraceId: traceID, SpanId: parent, Attributes: []*commonpb.KeyValue{kv("why", str("retry"))}}},
				Status:     &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "upstream timed out"},
			}, {
				// Still open when exported: no end time, so no duration.
				TraceId: traceID, SpanId: parent, Name: "root", StartTimeUnixNano: t0 + 90,
			}},
		}},
	}}}
	blk := block(t, layout.Traces, req)
	var b Batch
	if err := Decode(blk, &b); err != nil {
		t.Fatal(err)
	}
	prov := Provenance{ProcessID: processID(t), ServiceName: "checkout", BlockID: blk.ID}
	want := []Span{{
		TraceID: "5b8efff798038103d269b633813fc60c", SpanID: "eee19b7ec3c1b174", ParentSpanID: "0000000000000001",
		Name: "GET /cart", Kind: "server", StartTime: t0 + 100, EndTime: t0 + 350, DurationNs: ptr(int64(250)),
		StatusCode: "error", StatusMessage: "upstream timed out", Attributes: Attrs{"http.status_code": "500"},
		Events:    []SpanEvent{{Time: t0 + 200, Name: "exception", Attributes: Attrs{"exception.type": "Timeout"}}},
		Links:     []SpanLink{{TraceID: "5b8efff798038103d269b633813fc60c", SpanID: "0000000000000001", Attributes: Attrs{"why": "retry"}}},
		ScopeName: "tracer", Provenance: prov,
	}, {
		TraceID: "5b8efff798038103d269b633813fc60c", SpanID: "0000000000000001", Name: "root", Kind: "unspecified",
		StartTime: t0 + 90, StatusCode: "unset", ScopeName: "tracer", Provenance: prov,
	}}
	if !reflect.DeepEqual(b.Spans, want) {
		t.Errorf("span rows:\n got %+v\nwant %+v", b.Spans, want)
	}
	if got := len(b.Spans[0].Values()); got != len(Spans.Columns) {
		t.Errorf("a span row renders %d values for %d columns", got, len(Spans.Columns))
	}
}

// TestABatchKeepsEachProcessOnceAtItsEarliestSighting pins docs/contracts/lakehouse.md §1:
// processes.
func TestABatchKeepsEachProcessOnceAtItsEarliestSighting(t *testing.T) {
	logsAt := func(ts uint64) Block {
		return block(t, layout.Logs, &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
			Resource:  resource,
			ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{TimeUnixNano: ts}}}},
		}}})
	}
	late, early, undated := logsAt(t0+500), logsAt(t0+5), logsAt(0)
	var b Batch
	for _, blk := range []Block{late, undated, early} {
		if err := Decode(blk, &b); err != nil {
			t.Fatal(err)
		}
	}
	if len(b.Processes) != 1 {
		t.Fatalf("%d process rows for one process: %+v", len(b.Processes), b.Processes)
	}
	if p := b.Processes[0]; p.FirstSeen != t0+5 || p.BlockID != early.ID {
		t.Errorf("process first seen %d in %s, want %d in %s", p.FirstSeen, p.BlockID, t0+5, early.ID)
	}
}

// TestABadBlockIsRefusedWholeAndNamesWhy pins docs/contracts/lakehouse.md §2: bad blocks.
func TestABadBlockIsRefusedWholeAndNamesWhy(t *testing.T) {
	good := block(t, layout.Logs, &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: resource, ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{TimeUnixNano: t0}}}},
	}}})
	garbage := []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01} // a length past the end
	cases := []struct {
		name string
		blk  Block
		want string
	}{
		{"bytes that are not protobuf, under their own content address", Block{layout.Logs, layout.BlockID(layout.Logs, garbage).String(), garbage}, "cannot parse"},
		{"a block whose bytes were damaged after it was named", Block{layout.Logs, good.ID, append([]byte{}, good.Data[:len(good.Data)-1]...)}, "hash to"},
		{"a logs block filed under traces", Block{layout.Traces, good.ID, good.Data}, "wrong signal"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b Batch
			err := Decode(c.blk, &b)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			if b.Rows(&LogEntries)+b.Rows(&Spans)+b.Rows(&Processes) != 0 {
				t.Errorf("a refused block left rows: %+v", b)
			}
		})
	}
}
