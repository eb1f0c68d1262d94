package harness

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"

	lakeblocks "github.com/telemetrylake/telemetrylake/lake/blocks"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
)

// Landed is what stored OTLP blocks hold, decoded as a reader of the lake would: enough for a
// test to find every record it sent.
type Landed struct {
	Blocks    map[layout.Signal]int // blocks per signal
	LogBodies map[string]bool       // string bodies of the log records
	SpanNames map[string]bool
	// SumMax is the largest integer point of each Sum metric, by name: for a cumulative counter,
	// its total.
	SumMax map[string]int64
	// HistogramCount is the largest point count of each histogram, by name: for a cumulative one,
	// how many values were recorded.
	HistogramCount map[string]uint64
}

// NewLanded is an empty Landed, for Add.
func NewLanded() *Landed {
	return &Landed{
		Blocks: map[layout.Signal]int{}, LogBodies: map[string]bool{}, SpanNames: map[string]bool{},
		SumMax: map[string]int64{}, HistogramCount: map[string]uint64{},
	}
}

// ReadLanded decodes every block in st, in either layout, each block id once per signal and hour
// as every reader of the lake counts it (lake/blocks). A corrupt segment fails the test.
func ReadLanded(t testing.TB, st store.Store) *Landed {
	t.Helper()
	found, skipped, err := lakeblocks.List(context.Background(), st, lakeblocks.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range skipped {
		t.Errorf("segment %s is not intact: %s", s.Key, s.Reason)
	}
	// Each object is read once: a segment holds many of the blocks found.
	objects := map[string][]byte{}
	l := NewLanded()
	for _, f := range found {
		object, ok := objects[f.Ref.Key]
		if !ok {
			if object, _, err = st.Get(context.Background(), f.Ref.Key); err != nil {
				t.Fatal(err)
			}
			objects[f.Ref.Key] = object
		}
		data, err := f.Bytes(object)
		if err != nil {
			t.Fatal(err)
		}
		l.Add(t, f.Ref, data)
	}
	return l
}

// Add decodes one block, failing the test if it is not an OTLP request of its signal.
func (l *Landed) Add(t testing.TB, ref layout.BlockRef, data []byte) {
	t.Helper()
	unmarshal := func(m proto.Message) {
		if err := proto.Unmarshal(data, m); err != nil {
			t.Fatalf("block %s: %v", ref.Key, err)
		}
	}
	l.Blocks[ref.Signal]++
	switch ref.Signal {
	case layout.Logs:
		var req collogspb.ExportLogsServiceRequest
		unmarshal(&req)
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				for _, lr := range sl.LogRecords {
					l.LogBodies[lr.GetBody().GetStringValue()] = true
				}
			}
		}
	case layout.Traces:
		var req coltracepb.ExportTraceServiceRequest
		unmarshal(&req)
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					l.SpanNames[sp.Name] = true
				}
			}
		}
	case layout.Metrics:
		var req colmetricspb.ExportMetricsServiceRequest
		unmarshal(&req)
		for _, rm := range req.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					for _, dp := range m.GetSum().GetDataPoints() {
						l.SumMax[m.Name] = max(l.SumMax[m.Name], dp.GetAsInt())
					}
					for _, dp := range m.GetHistogram().GetDataPoints() {
						l.HistogramCount[m.Name] = max(l.HistogramCount[m.Name], dp.GetCount())
					}
				}
			}
		}
	}
}
