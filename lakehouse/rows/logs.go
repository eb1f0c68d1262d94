package rows

import (
	"slices"

	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
)

// LogEntries has one row per LogRecord.
var LogEntries = Table{
	Name:       "log_entries",
	TimeColumn: "time",
	Columns: cols([]Column{
		{"time", "TIMESTAMP_NS"},
		{"observed_time", "TIMESTAMP_NS"},
		{"severity_number", "INTEGER"},
		{"severity_text", "VARCHAR"},
		{"body", "VARCHAR"},
		{"event_name", "VARCHAR"},
		{"attributes", MapType},
		{"trace_id", "VARCHAR"},
		{"span_id", "VARCHAR"},
		{"flags", "UINTEGER"},
		{"scope_name", "VARCHAR"},
		{"scope_version", "VARCHAR"},
	}, provenanceColumns),
}

// LogEntry is one row of log_entries.
type LogEntry struct {
	// Time is time_unix_nano, else observed_time_unix_nano; 0 (NULL) when both are unset.
	Time           uint64
	ObservedTime   uint64
	SeverityNumber int32
	SeverityText   string
	// Body is a string body as it is, any other body as compact JSON; nil (NULL) when absent.
	Body       *string
	EventName  string
	Attributes Attrs
	// TraceID and SpanID are lower-case hex, "" when absent.
	TraceID      string
	SpanID       string
	Flags        uint32
	ScopeName    string
	ScopeVersion string
	Provenance
}

// Values renders the row in LogEntries.Columns order.
func (r *LogEntry) Values() []any { return values(len(LogEntries.Columns), r) }

func decodeLogs(entries []*logspb.ResourceLogs, blockID string, b *Batch) error {
	n := 0
	for _, rl := range entries {
		for _, sl := range rl.GetScopeLogs() {
			n += len(sl.GetLogRecords())
		}
	}
	b.Logs = slices.Grow(b.Logs, n)
	for _, rl := range entries {
		res, err := b.addResource(rl.GetResource(), rl.GetSchemaUrl(), blockID)
		if err != nil {
			return err
		}
		for _, sl := range rl.GetScopeLogs() {
			for _, lr := range sl.GetLogRecords() {
				t := lr.GetTimeUnixNano()
				if t == 0 {
					t = lr.GetObservedTimeUnixNano()
				}
				res.seen(t)
				var body *string
				if lr.GetBody() != nil {
					s := anyValueText(lr.GetBody())
					body = &s
				}
				b.Logs = append(b.Logs, LogEntry{
					Time:           t,
					ObservedTime:   lr.GetObservedTimeUnixNano(),
					SeverityNumber: int32(lr.GetSeverityNumber()),
					SeverityText:   lr.GetSeverityText(),
					Body:           body,
					EventName:      lr.GetEventName(),
					Attributes:     attrs(lr.GetAttributes()),
					TraceID:        hexID(lr.GetTraceId()),
					SpanID:         hexID(lr.GetSpanId()),
					Flags:          lr.GetFlags(),
					ScopeName:      sl.GetScope().GetName(),
					ScopeVersion:   sl.GetScope().GetVersion(),
					Provenance:     res.provenance,
				})
			}
		}
	}
	return nil
}
