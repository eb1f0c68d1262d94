package rows

import (
	"slices"
	"strings"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// Spans has one row per Span, with its events and links as lists of structs.
var Spans = Table{
	Name:       "otel_spans",
	TimeColumn: "start_time",
	Columns: cols([]Column{
		{"trace_id", "VARCHAR"},
		{"span_id", "VARCHAR"},
		{"parent_span_id", "VARCHAR"},
		{"trace_state", "VARCHAR"},
		{"name", "VARCHAR"},
		{"kind", "VARCHAR"},
		{"start_time", "TIMESTAMP_NS"},
		{"end_time", "TIMESTAMP_NS"},
		{"duration_ns", "BIGINT"},
		{"status_code", "VARCHAR"},
		{"status_message", "VARCHAR"},
		{"attributes", MapType},
		{"events", "STRUCT(time TIMESTAMP_NS, name VARCHAR, attributes " + MapType + ")[]"},
		{"links", "STRUCT(trace_id VARCHAR, span_id VARCHAR, attributes " + MapType + ")[]"},
		{"flags", "UINTEGER"},
		{"scope_name", "VARCHAR"},
		{"scope_version", "VARCHAR"},
	}, provenanceColumns),
}

// Span is one row of otel_spans.
type Span struct {
	TraceID      string
	SpanID       string
	ParentSpanID string // "" for a root span
	TraceState   string
	Name         string
	// Kind is internal, server, client, producer, consumer or unspecified.
	Kind      string
	StartTime uint64
	EndTime   uint64
	// DurationNs is end minus start; nil (NULL) when either is unset.
	DurationNs *int64
	// StatusCode is unset, ok or error.
	StatusCode    string
	StatusMessage string
	Attributes    Attrs
	Events        []SpanEvent
	Links         []SpanLink
	Flags         uint32
	ScopeName     string
	ScopeVersion  string
	Provenance
}

// SpanEvent is one element of a span's events.
type SpanEvent struct {
	Time       uint64
	Name       string
	Attributes Attrs
}

// SpanLink is one element of a span's links.
type SpanLink struct {
	TraceID    string
	SpanID     string
	Attributes Attrs
}

// Values renders the row in Spans.Columns order.
func (r *Span) Values() []any { return values(len(Spans.Columns), r) }

// spanKind is the OTLP enum name without its prefix, lower-cased: SPAN_KIND_SERVER is "server".
func spanKind(k tracepb.Span_SpanKind) string {
	name, ok := tracepb.Span_SpanKind_name[int32(k)]
	if !ok {
		return "unspecified"
	}
	return strings.ToLower(strings.TrimPrefix(name, "SPAN_KIND_"))
}

func statusCode(c tracepb.Status_StatusCode) string {
	switch c {
	case tracepb.Status_STATUS_CODE_OK:
		return "ok"
	case tracepb.Status_STATUS_CODE_ERROR:
		return "error"
	}
	return "unset"
}

func decodeSpans(entries []*tracepb.ResourceSpans, blockID string, b *Batch) error {
	n := 0
	for _, rs := range entries {
		for _, ss := range rs.GetScopeSpans() {
			n += len(ss.GetSpans())
		}
	}
	b.Spans = slices.Grow(b.Spans, n)
	for _, rs := range entries {
		res, err := b.addResource(rs.GetResource(), rs.GetSchemaUrl(), blockID)
		if err != nil {
			return err
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				res.seen(sp.GetStartTimeUnixNano())
				start, end := sp.GetStartTimeUnixNano(), sp.GetEndTimeUnixNano()
				var duration *int64
				if start != 0 && end != 0 {
					d := int64(end - start)
					duration = &d
				}
				row := Span{
					TraceID:       hexID(sp.GetTraceId()),
					SpanID:        hexID(sp.GetSpanId()),
					ParentSpanID:  hexID(sp.GetParentSpanId()),
					TraceState:    sp.GetTraceState(),
					Name:          sp.GetName(),
					Kind:          spanKind(sp.GetKind()),
					StartTime:     start,
					EndTime:       end,
					DurationNs:    duration,
					StatusCode:    statusCode(sp.GetStatus().GetCode()),
					StatusMessage: sp.GetStatus().GetMessage(),
					Attributes:    attrs(sp.GetAttributes()),
					Flags:         sp.GetFlags(),
					ScopeName:     ss.GetScope().GetName(),
					ScopeVersion:  ss.GetScope().GetVersion(),
					Provenance:    res.provenance,
				}
				for _, e := range sp.GetEvents() {
					row.Events = append(row.Events, SpanEvent{Time: e.GetTimeUnixNano(), Name: e.GetName(), Attributes: attrs(e.GetAttributes())})
				}
				for _, l := range sp.GetLinks() {
					row.Links = append(row.Links, SpanLink{TraceID: hexID(l.GetTraceId()), SpanID: hexID(l.GetSpanId()), Attributes: attrs(l.GetAttributes())})
				}
				b.Spans = append(b.Spans, row)
			}
		}
	}
	return nil
}
