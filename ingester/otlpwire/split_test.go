package otlpwire

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/telemetrylake/telemetrylake/lake/layout"
)

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func resource(service string) *resourcepb.Resource {
	return &resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("service.name", service), str("host.name", "box")}}
}

func logsRequest(services ...string) *collogspb.ExportLogsServiceRequest {
	req := &collogspb.ExportLogsServiceRequest{}
	for i, svc := range services {
		req.ResourceLogs = append(req.ResourceLogs, &logspb.ResourceLogs{
			Resource: resource(svc),
			ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{
				{TimeUnixNano: 1_700_000_000_000_000_000 + uint64(i), Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "a"}}},
				{ObservedTimeUnixNano: 1_600_000_000_000_000_000},
				{},
			}}},
		})
	}
	return req
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSplitMakesOneValidRequestPerResourceEntry pins docs/contracts/otlp-http.md §3: one block per
// resource entry.
func TestSplitMakesOneValidRequestPerResourceEntry(t *testing.T) {
	req := logsRequest("a", "b", "c")
	blocks, err := Split(layout.Logs, mustMarshal(t, req))
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 3 {
		t.Fatalf("got %d blocks, want 3", len(blocks))
	}
	for i, b := range blocks {
		var got collogspb.ExportLogsServiceRequest
		if err := proto.Unmarshal(b.Bytes, &got); err != nil {
			t.Fatalf("block %d is not an ExportLogsServiceRequest: %v", i, err)
		}
		want := &collogspb.ExportLogsServiceRequest{ResourceLogs: req.ResourceLogs[i : i+1]}
		if !proto.Equal(&got, want) {
			t.Errorf("block %d holds %v, want %v", i, &got, want)
		}
		if b.Meta.Records != 3 {
			t.Errorf("block %d: %d records, want 3", i, b.Meta.Records)
		}
		// The observed time of the second record is earlier than the first record's time.
		if b.Meta.MinTime != 1_600_000_000_000_000_000 || b.Meta.MaxTime != 1_700_000_000_000_000_000+uint64(i) {
			t.Errorf("block %d: times %d..%d", i, b.Meta.MinTime, b.Meta.MaxTime)
		}
	}
	if blocks[0].Meta.ProcessID == blocks[1].Meta.ProcessID {
		t.Error("different services share a process id")
	}
}

func TestSplitReusesTheBytesOfASingleEntryRequest(t *testing.T) {
	body := mustMarshal(t, logsRequest("a"))
	blocks, err := Split(layout.Logs, body)
	if err != nil {
		t.Fatal(err)
	}
	if &blocks[0].Bytes[0] != &body[0] || len(blocks[0].Bytes) != len(body) {
		t.Error("a one-entry request was copied instead of stored as sent")
	}
}

// TestSplitKeepsUnknownFieldsAsSent pins otlp-http.md §2 and §3: unknown protobuf fields stay in
// the stored bytes.
func TestSplitKeepsUnknownFieldsAsSent(t *testing.T) {
	entry := mustMarshal(t, logsRequest("a").ResourceLogs[0])
	entry = protowire.AppendTag(entry, 999, protowire.BytesType)
	entry = protowire.AppendString(entry, "from a newer schema")
	body := protowire.AppendTag(nil, 1, protowire.BytesType)
	body = protowire.AppendBytes(body, entry)
	blocks, err := Split(layout.Logs, body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(blocks[0].Bytes, []byte("from a newer schema")) {
		t.Error("the unknown field was dropped")
	}
}

// TestAnEntrysBlockBytesDependOnlyOnTheEntry pins otlp-http.md §3: the block id is
// layout.BlockID of a block's bytes, so what keeps a retry idempotent here is that an entry's
// bytes depend on nothing but the entry.
func TestAnEntrysBlockBytesDependOnlyOnTheEntry(t *testing.T) {
	body := mustMarshal(t, logsRequest("a", "b"))
	first, _ := Split(layout.Logs, body)
	again, _ := Split(layout.Logs, append([]byte(nil), body...))
	if !bytes.Equal(first[0].Bytes, again[0].Bytes) || !bytes.Equal(first[1].Bytes, again[1].Bytes) {
		t.Error("the same body gave different blocks")
	}
	if bytes.Equal(first[0].Bytes, first[1].Bytes) {
		t.Error("different entries gave the same block")
	}
	// The same entry sent alone is the same block as when it was sent with another.
	alone, _ := Split(layout.Logs, mustMarshal(t, logsRequest("a")))
	if !bytes.Equal(alone[0].Bytes, first[0].Bytes) {
		t.Error("an entry's block depends on its neighbours")
	}
}

// TestSplitDatesEverySignalByItsOwnRecords pins otlp-http.md §3: block time, per signal.
func TestSplitDatesEverySignalByItsOwnRecords(t *testing.T) {
	metrics := &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
		ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: []*metricspb.Metric{
			{Name: "g", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: []*metricspb.NumberDataPoint{{TimeUnixNano: 30}, {TimeUnixNano: 10}}}}},
			{Name: "h", Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{DataPoints: []*metricspb.HistogramDataPoint{{TimeUnixNano: 20, BucketCounts: []uint64{1, 2}, ExplicitBounds: []float64{1}}}}}},
			{Name: "e", Data: &metricspb.Metric_ExponentialHistogram{ExponentialHistogram: &metricspb.ExponentialHistogram{DataPoints: []*metricspb.ExponentialHistogramDataPoint{{TimeUnixNano: 40}}}}},
			{Name: "s", Data: &metricspb.Metric_Summary{Summary: &metricspb.Summary{DataPoints: []*metricspb.SummaryDataPoint{{TimeUnixNano: 50}}}}},
		}}},
	}}}
	traces := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{
			{StartTimeUnixNano: 7, EndTimeUnixNano: 100, Events: []*tracepb.Span_Event{{TimeUnixNano: 1}}},
			{StartTimeUnixNano: 9},
		}}},
	}}}
	for _, tc := range []struct {
		signal           layout.Signal
		msg              proto.Message
		records          int
		minTime, maxTime uint64
	}{
		{layout.Metrics, metrics, 5, 10, 50},
		{layout.Traces, traces, 2, 7, 9},
		{layout.Logs, &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{}}}}}}}, 1, 0, 0},
	} {
		t.Run(string(tc.signal), func(t *testing.T) {
			blocks, err := Split(tc.signal, mustMarshal(t, tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			m := blocks[0].Meta
			if m.Records != tc.records || m.MinTime != tc.minTime || m.MaxTime != tc.maxTime {
				t.Errorf("got %d records dated %d..%d, want %d dated %d..%d", m.Records, m.MinTime, m.MaxTime, tc.records, tc.minTime, tc.maxTime)
			}
		})
	}
}

func TestSplitAcceptsPackedAndUnpackedRepeatedScalars(t *testing.T) {
	point := mustMarshal(t, &metricspb.HistogramDataPoint{TimeUnixNano: 5, BucketCounts: []uint64{1, 2, 3}})
	// The same counts, unpacked: one fixed64 field per value.
	unpacked := point[:0:0]
	forEachField(point, func(num protowire.Number, typ protowire.Type, v []byte) {
		if num == 6 {
			for len(v) > 0 {
				x, n := protowire.ConsumeFixed64(v)
				unpacked = protowire.AppendTag(unpacked, 6, protowire.Fixed64Type)
				unpacked = protowire.AppendFixed64(unpacked, x)
				v = v[n:]
			}
			return
		}
		unpacked = protowire.AppendTag(unpacked, num, typ)
		switch typ {
		case protowire.BytesType:
			unpacked = protowire.AppendBytes(unpacked, v)
		default:
			unpacked = append(unpacked, v...)
		}
	})
	for name, dp := range map[string][]byte{"packed": point, "unpacked": unpacked} {
		body := nest(dp, 1 /*data_points*/, 9 /*histogram*/, 2 /*metrics*/, 2 /*scope_metrics*/, 1 /*resource_metrics*/)
		blocks, err := Split(layout.Metrics, body)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var got colmetricspb.ExportMetricsServiceRequest
		if err := proto.Unmarshal(blocks[0].Bytes, &got); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		counts := got.ResourceMetrics[0].ScopeMetrics[0].Metrics[0].GetHistogram().DataPoints[0].BucketCounts
		if len(counts) != 3 || counts[2] != 3 {
			t.Errorf("%s: bucket counts %v", name, counts)
		}
	}
}

// nest wraps b in length-delimited fields, innermost first.
func nest(b []byte, fields ...protowire.Number) []byte {
	for _, f := range fields {
		out := protowire.AppendTag(nil, f, protowire.BytesType)
		b = protowire.AppendBytes(out, b)
	}
	return b
}

func TestSplitRefusesMalformedBodies(t *testing.T) {
	valid := mustMarshal(t, logsRequest("a"))
	wrongTime := protowire.AppendTag(nil, 1 /*time_unix_nano*/, protowire.VarintType)
	wrongTime = protowire.AppendVarint(wrongTime, 5)
	badUTF8 := protowire.AppendTag(nil, 3 /*severity_text*/, protowire.BytesType)
	badUTF8 = protowire.AppendBytes(badUTF8, []byte{0xff, 0xfe})
	for _, tc := range []struct {
		name, want string
		body       []byte
	}{
		{"a truncated body", "unexpected EOF", valid[:len(valid)-3]},
		{"a varint where a fixed64 time belongs", "resource_logs.scope_logs.log_records.time_unix_nano", nest(wrongTime, 2, 2, 1)},
		{"an entry that is not length-delimited", "resource_logs", protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1)},
		{"a string that is not UTF-8", "severity_text", nest(badUTF8, 2, 2, 1)},
		{"a field number of zero", "bad field tag", []byte{0x00, 0x01}},
		{"nesting past the limit", "nested deeper", deepKVList(maxNesting + 2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Split(layout.Logs, tc.body)
			if err == nil {
				t.Fatal("accepted")
			}
			if _, ok := err.(*DecodeError); !ok || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// deepKVList is a log record whose body nests kvlists depth times.
func deepKVList(depth int) []byte {
	v := mustMarshalAny(&commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "x"}})
	for i := 0; i < depth; i++ {
		kv := protowire.AppendTag(nil, 2, protowire.BytesType)
		kv = protowire.AppendBytes(kv, v)
		list := protowire.AppendTag(nil, 1, protowire.BytesType)
		list = protowire.AppendBytes(list, kv)
		v = protowire.AppendTag(nil, 6, protowire.BytesType)
		v = protowire.AppendBytes(v, list)
	}
	return nest(v, 5 /*body*/, 2, 2, 1)
}

func mustMarshalAny(m proto.Message) []byte {
	b, _ := proto.Marshal(m)
	return b
}

// TestEmptyRequestHasNoBlocks pins otlp-http.md §2: an empty request stores nothing.
func TestEmptyRequestHasNoBlocks(t *testing.T) {
	for _, body := range [][]byte{nil, {}} {
		blocks, err := Split(layout.Traces, body)
		if err != nil || len(blocks) != 0 {
			t.Errorf("Split(%v) = %d blocks, %v", body, len(blocks), err)
		}
	}
}

// TestJSONBecomesTheSameBlocksAsItsProtobuf pins otlp-http.md §2: OTLP/JSON is stored as canonical
// protobuf.
func TestJSONBecomesTheSameBlocksAsItsProtobuf(t *testing.T) {
	json := `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
	  "scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000000","severityNumber":"SEVERITY_NUMBER_INFO",
	  "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174","body":{"stringValue":"hi"},
	  "attributes":[{"key":"n","value":{"intValue":9007199254740993}}],"someFutureField":{"x":[1,2]}}]}]}]}`
	canonical, err := JSONToProto(layout.Logs, []byte(json))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := Split(layout.Logs, canonical)
	if err != nil {
		t.Fatal(err)
	}
	var got collogspb.ExportLogsServiceRequest
	if err := proto.Unmarshal(blocks[0].Bytes, &got); err != nil {
		t.Fatal(err)
	}
	rec := got.ResourceLogs[0].ScopeLogs[0].LogRecords[0]
	if len(rec.TraceId) != 16 || rec.TraceId[0] != 0x5b || len(rec.SpanId) != 8 {
		t.Errorf("ids were not read as hex: trace %x span %x", rec.TraceId, rec.SpanId)
	}
	if rec.TimeUnixNano != 1_700_000_000_000_000_000 || rec.SeverityNumber != logspb.SeverityNumber_SEVERITY_NUMBER_INFO {
		t.Errorf("time %d severity %v", rec.TimeUnixNano, rec.SeverityNumber)
	}
	if got := rec.Attributes[0].Value.GetIntValue(); got != 9007199254740993 {
		t.Errorf("a bare JSON int64 lost precision: %d", got)
	}
}

// TestJSONRefusesWhatTheSpecRefuses pins otlp-http.md §2: what OTLP/JSON refuses.
func TestJSONRefusesWhatTheSpecRefuses(t *testing.T) {
	for name, body := range map[string]string{
		"a short trace id":       `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"123"}]}]}]}`,
		"a non-hex trace id":     `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz8EFFF798038103D269B633813FC60C"}]}]}]}`,
		"a fraction in an int64": `{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":1.5}]}]}]}`,
		"truncated JSON":         `{"resourceSpans":[`,
		"an array at the top":    `[]`,
		"an object for an array": `{"resourceSpans":{}}`,
	} {
		if _, err := JSONToProto(layout.Traces, []byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestProcessIDFollowsTheIdentityTuple pins otlp-http.md §3: process_id.
func TestProcessIDFollowsTheIdentityTuple(t *testing.T) {
	res := func(kvs ...*commonpb.KeyValue) []byte {
		return mustMarshalAny(&resourcepb.Resource{Attributes: kvs})
	}
	pid := func(v int64) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: "process.pid", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
	}
	base := ProcessID(res(str("service.name", "Claude-Code"), pid(42)))
	if got := ProcessID(res(pid(42), str("service.name", " claude-code "), str("unrelated", "x"))); got != base {
		t.Error("order, case, spaces or a non-identity attribute changed the process id")
	}
	if got := ProcessID(res(str("service.name", "claude-code"), pid(43))); got == base {
		t.Error("a different pid gave the same process id")
	}
	want := layout.ProcessID(func(k string) string {
		return map[string]string{"service.name": "claude-code", "process.pid": "42"}[k]
	})
	if base != want {
		t.Errorf("wire scan gives %s, the layout's definition %s", base, want)
	}
}

func TestJSONStringsAreValidJSONWhateverTheBytes(t *testing.T) {
	got := string(AppendJSONString(nil, "ok \xff\xfe \"q\" \x01 é"))
	if want := `"ok \ufffd\ufffd \"q\" \u0001 é"`; got != want {
		t.Errorf("AppendJSONString = %s, want %s", got, want)
	}
}
