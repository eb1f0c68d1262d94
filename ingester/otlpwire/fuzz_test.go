package otlpwire

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"

	"github.com/telemetrylake/telemetrylake/lake/layout"
)

func requestMessage(s layout.Signal) proto.Message {
	switch s {
	case layout.Logs:
		return &collogspb.ExportLogsServiceRequest{}
	case layout.Metrics:
		return &colmetricspb.ExportMetricsServiceRequest{}
	}
	return &coltracepb.ExportTraceServiceRequest{}
}

// FuzzSplit checks that whatever a client sends, Split neither panics nor accepts something that
// a protobuf decoder would refuse, and that a block splits back into itself.
func FuzzSplit(f *testing.F) {
	f.Add(uint8(0), mustMarshal(f, logsRequest("a", "b")))
	f.Add(uint8(0), deepKVList(10))
	f.Add(uint8(1), nest([]byte{0x19, 1, 2, 3, 4, 5, 6, 7, 8}, 1, 5, 2, 2, 1))
	f.Add(uint8(2), nest([]byte{0x39, 1, 2, 3, 4, 5, 6, 7, 8}, 2, 2, 1))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		signal := layout.Signals[int(which)%len(layout.Signals)]
		blocks, err := Split(signal, body)
		if err != nil {
			return
		}
		if err := proto.Unmarshal(body, requestMessage(signal)); err != nil {
			t.Fatalf("Split accepted a body that protobuf refuses: %v", err)
		}
		for _, b := range blocks {
			if err := proto.Unmarshal(b.Bytes, requestMessage(signal)); err != nil {
				t.Fatalf("block does not decode: %v", err)
			}
			again, err := Split(signal, b.Bytes)
			if err != nil || len(again) != 1 || !bytes.Equal(again[0].Bytes, b.Bytes) || again[0].Meta != b.Meta {
				t.Fatalf("a block does not split back into itself: %v", err)
			}
		}
	})
}

// FuzzJSONToProto checks that any JSON body is either refused or becomes a protobuf request that
// Split accepts.
func FuzzJSONToProto(f *testing.F) {
	f.Add(uint8(0), []byte(`{"resourceLogs":[{"resource":{"attributes":[{"key":"k","value":{"intValue":"5"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"1","traceId":"5B8EFFF798038103D269B633813FC60C","body":{"kvlistValue":{"values":[{"key":"a","value":{"arrayValue":{"values":[{"doubleValue":1.5}]}}}]}}}]}]}]}`))
	f.Add(uint8(1), []byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","histogram":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA","dataPoints":[{"timeUnixNano":1,"bucketCounts":["1",2],"explicitBounds":[1.0]}]}}]}]}]}`))
	f.Add(uint8(2), []byte(`{"resource_spans":[{"scope_spans":[{"spans":[{"trace_id":"","span_id":"eee19b7ec3c1b174","kind":2,"status":{"code":"STATUS_CODE_ERROR"}}]}]}]}`))
	f.Add(uint8(0), []byte(`{}`))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		signal := layout.Signals[int(which)%len(layout.Signals)]
		canonical, err := JSONToProto(signal, body)
		if err != nil {
			return
		}
		if _, err := Split(signal, canonical); err != nil {
			t.Fatalf("accepted JSON became protobuf that Split refuses: %v", err)
		}
	})
}
