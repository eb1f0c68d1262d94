package rows

import (
	"encoding/hex"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"

	"github.com/telemetrylake/telemetrylake/ingester/otlpwire"
	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// Block is a stored block to decode: its signal and id as its key names them, and its bytes.
type Block struct {
	Signal layout.Signal
	ID     string
	Data   []byte
}

// Batch collects the rows of many blocks, one slice per table.
type Batch struct {
	Logs     []LogEntry
	Measures []Measure
	Spans    []Span
	// Processes has one row per process id: the earliest sighting among the batch's blocks.
	Processes []Process

	processIndex map[string]int
}

// TableOf is the row table a signal's blocks fill; every signal also fills Processes.
func TableOf(signal layout.Signal) *Table {
	switch signal {
	case layout.Logs:
		return &LogEntries
	case layout.Metrics:
		return &Measures
	case layout.Traces:
		return &Spans
	}
	return nil
}

// Rows is the number of rows of a table in the batch.
func (b *Batch) Rows(t *Table) int {
	switch t {
	case &LogEntries:
		return len(b.Logs)
	case &Measures:
		return len(b.Measures)
	case &Spans:
		return len(b.Spans)
	case &Processes:
		return len(b.Processes)
	}
	return 0
}

// ErrCorrupt is wrapped by every error Decode returns: the block itself is bad, and reading it
// again will not help.
var ErrCorrupt = errors.New("corrupt block")

// Decode appends the rows of one block to b. A block that fails adds nothing: its error says why
// and wraps ErrCorrupt.
//
// The block's bytes must hash to its id (layout.BlockID). That catches what protobuf alone cannot:
// a truncated or bit-flipped object that still parses, and a block filed under the wrong signal,
// whose bytes would often parse as the other signal's request and give rows of nonsense.
func Decode(blk Block, b *Batch) error {
	if got := layout.BlockID(blk.Signal, blk.Data).String(); got != blk.ID {
		return fmt.Errorf("%w: its bytes hash to %s as %s, not to its name (damaged, or filed under the wrong signal)", ErrCorrupt, got, blk.Signal)
	}
	var one Batch
	var err error
	switch blk.Signal {
	case layout.Logs:
		var req collogspb.ExportLogsServiceRequest
		if err = proto.Unmarshal(blk.Data, &req); err == nil {
			err = decodeLogs(req.GetResourceLogs(), blk.ID, &one)
		}
	case layout.Metrics:
		var req colmetricspb.ExportMetricsServiceRequest
		if err = proto.Unmarshal(blk.Data, &req); err == nil {
			err = decodeMetrics(req.GetResourceMetrics(), blk.ID, &one)
		}
	case layout.Traces:
		var req coltracepb.ExportTraceServiceRequest
		if err = proto.Unmarshal(blk.Data, &req); err == nil {
			err = decodeSpans(req.GetResourceSpans(), blk.ID, &one)
		}
	default:
		err = fmt.Errorf("unknown signal %q", blk.Signal)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	b.merge(&one)
	return nil
}

// merge moves another batch's rows into b, which o must not be used after. Into an empty batch,
// the usual case of one block per batch, the rows move without being copied.
func (b *Batch) merge(o *Batch) {
	if len(b.Logs) == 0 {
		b.Logs, o.Logs = o.Logs, nil
	}
	if len(b.Measures) == 0 {
		b.Measures, o.Measures = o.Measures, nil
	}
	if len(b.Spans) == 0 {
		b.Spans, o.Spans = o.Spans, nil
	}
	for _, t := range Tables {
		b.Take(o, t)
	}
}

// Take adds o's rows of table t to b; processes stay one row per process id, the earliest.
func (b *Batch) Take(o *Batch, t *Table) {
	switch t {
	case &LogEntries:
		b.Logs = append(b.Logs, o.Logs...)
	case &Measures:
		b.Measures = append(b.Measures, o.Measures...)
	case &Spans:
		b.Spans = append(b.Spans, o.Spans...)
	case &Processes:
		for _, p := range o.Processes {
			b.addProcess(p)
		}
	}
}

// Reset empties the batch and keeps its memory.
func (b *Batch) Reset() {
	b.Logs, b.Measures, b.Spans, b.Processes = b.Logs[:0], b.Measures[:0], b.Spans[:0], b.Processes[:0]
	clear(b.processIndex)
}

// attrs renders OTLP attributes as a map. A key sent twice keeps its first value, as the
// Collector's pdata lookups do, because a MAP cannot hold a key twice.
func attrs(kvs []*commonpb.KeyValue) Attrs {
	if len(kvs) == 0 {
		return nil
	}
	m := make(Attrs, len(kvs))
	for _, kv := range kvs {
		if _, dup := m[kv.GetKey()]; !dup {
			m[kv.GetKey()] = anyValueText(kv.GetValue())
		}
	}
	return m
}

// anyValueText is a string value as it is, and any other value as compact JSON.
func anyValueText(v *commonpb.AnyValue) string {
	if s, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
		return s.StringValue
	}
	return string(otlpwire.AppendAnyValueJSON(nil, v))
}

// hexID is a trace or span id in lower-case hex; "" when absent or all zeros (OTLP's "invalid").
func hexID(id []byte) string {
	for _, c := range id {
		if c != 0 {
			return hex.EncodeToString(id)
		}
	}
	return ""
}
