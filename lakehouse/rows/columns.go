package rows

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// ColumnWriter takes a row's values in its table's column order, each through the method of its
// column's type, so that a bulk writer (the lakehouse's Arrow records) needs no boxing of values.
// Values builds the same row as []any through the same calls, so the column order is written
// down once, in each row type's WriteColumns.
type ColumnWriter interface {
	Null()
	Timestamp(unixNano int64) // never 0 (NULL) nor out of TIMESTAMP_NS's range: those are Null
	Bool(bool)
	Int32(int32)
	Uint32(uint32)
	Int64(int64)
	Uint64(uint64)
	Float64(float64)
	String(string)
	Attrs(Attrs)        // a nil Attrs is an empty map
	Float64s([]float64) // a list; nil is an empty one
	Uint64s([]uint64)
	Quantiles([]Quantile) // lists of structs, as the tables' STRUCT types name their fields
	Events([]SpanEvent)
	Links([]SpanLink)
}

// writeTime writes a TIMESTAMP_NS column (see Timestamp).
func writeTime(w ColumnWriter, unixNano uint64) {
	if ns, ok := Timestamp(unixNano); ok {
		w.Timestamp(ns)
	} else {
		w.Null()
	}
}

// Timestamp is a TIMESTAMP_NS value: ok is false for 0 (OTLP's "unset") and for values past the
// largest TIMESTAMP_NS, 2262-04-11 23:47:16.854775806 (DuckDB keeps the largest signed 64-bit
// count of nanoseconds for infinity); both are NULL.
func Timestamp(unixNano uint64) (ns int64, ok bool) {
	if unixNano == 0 || unixNano >= 1<<63-1 {
		return 0, false
	}
	return int64(unixNano), true
}

// values renders a row as Values does.
func values(columns int, r interface{ WriteColumns(ColumnWriter) }) []any {
	v := make(valuesWriter, 0, columns)
	r.WriteColumns(&v)
	return v
}

func writeOptional[T any](w ColumnWriter, p *T, write func(T)) {
	if p == nil {
		w.Null()
		return
	}
	write(*p)
}

func (p Provenance) writeColumns(w ColumnWriter) {
	w.String(p.ProcessID)
	w.String(p.ServiceName)
	w.String(p.BlockID)
}

// WriteColumns writes the row in LogEntries.Columns order.
func (r *LogEntry) WriteColumns(w ColumnWriter) {
	writeTime(w, r.Time)
	writeTime(w, r.ObservedTime)
	w.Int32(r.SeverityNumber)
	w.String(r.SeverityText)
	writeOptional(w, r.Body, w.String)
	w.String(r.EventName)
	w.Attrs(r.Attributes)
	w.String(r.TraceID)
	w.String(r.SpanID)
	w.Uint32(r.Flags)
	w.String(r.ScopeName)
	w.String(r.ScopeVersion)
	r.Provenance.writeColumns(w)
}

// WriteColumns writes the row in Measures.Columns order. The columns of the other point types
// are NULL; a point's own lists are empty rather than NULL when it has no element.
func (r *Measure) WriteColumns(w ColumnWriter) {
	writeTime(w, r.Time)
	writeTime(w, r.StartTime)
	w.String(r.Name)
	w.String(r.Description)
	w.String(r.Unit)
	w.String(r.Kind)
	w.String(r.Temporality)
	w.Bool(r.IsMonotonic)
	writeOptional(w, r.Value, w.Float64)
	writeOptional(w, r.Count, w.Uint64)
	writeOptional(w, r.Sum, w.Float64)
	writeOptional(w, r.Min, w.Float64)
	writeOptional(w, r.Max, w.Float64)
	if r.Kind == KindHistogram {
		w.Float64s(r.BucketBounds)
		w.Uint64s(r.BucketCounts)
	} else {
		w.Null()
		w.Null()
	}
	writeOptional(w, r.ExpScale, w.Int32)
	writeOptional(w, r.ExpZeroCount, w.Uint64)
	writeOptional(w, r.ExpZeroThreshold, w.Float64)
	writeOptional(w, r.ExpPositiveOffset, w.Int32)
	if r.Kind == KindExponentialHistogram {
		w.Uint64s(r.ExpPositiveCounts)
	} else {
		w.Null()
	}
	writeOptional(w, r.ExpNegativeOffset, w.Int32)
	if r.Kind == KindExponentialHistogram {
		w.Uint64s(r.ExpNegativeCounts)
	} else {
		w.Null()
	}
	if r.Kind == KindSummary {
		w.Quantiles(r.Quantiles)
	} else {
		w.Null()
	}
	w.Uint32(r.Flags)
	w.Attrs(r.Attributes)
	w.String(r.ScopeName)
	w.String(r.ScopeVersion)
	r.Provenance.writeColumns(w)
}

// WriteColumns writes the row in Spans.Columns order.
func (r *Span) WriteColumns(w ColumnWriter) {
	w.String(r.TraceID)
	w.String(r.SpanID)
	w.String(r.ParentSpanID)
	w.String(r.TraceState)
	w.String(r.Name)
	w.String(r.Kind)
	writeTime(w, r.StartTime)
	writeTime(w, r.EndTime)
	writeOptional(w, r.DurationNs, w.Int64)
	w.String(r.StatusCode)
	w.String(r.StatusMessage)
	w.Attrs(r.Attributes)
	w.Events(r.Events)
	w.Links(r.Links)
	w.Uint32(r.Flags)
	w.String(r.ScopeName)
	w.String(r.ScopeVersion)
	r.Provenance.writeColumns(w)
}

// WriteColumns writes the row in Processes.Columns order.
func (r *Process) WriteColumns(w ColumnWriter) {
	w.String(r.ProcessID)
	w.String(r.ServiceName)
	w.String(r.ServiceNamespace)
	w.String(r.ServiceVersion)
	w.String(r.ServiceInstanceID)
	w.String(r.HostName)
	w.String(r.TelemetrySDKLanguage)
	w.Attrs(r.ResourceAttributes)
	w.String(r.SchemaURL)
	writeTime(w, r.FirstSeen)
	w.String(r.BlockID)
}

// Write writes every row of table t in the batch to w.
func (b *Batch) Write(t *Table, w ColumnWriter) error {
	switch t {
	case &LogEntries:
		for i := range b.Logs {
			b.Logs[i].WriteColumns(w)
		}
	case &Measures:
		for i := range b.Measures {
			b.Measures[i].WriteColumns(w)
		}
	case &Spans:
		for i := range b.Spans {
			b.Spans[i].WriteColumns(w)
		}
	case &Processes:
		for i := range b.Processes {
			b.Processes[i].WriteColumns(w)
		}
	default:
		return fmt.Errorf("rows: unknown table %v", t)
	}
	return nil
}

// SortByTime orders the batch's rows of each table by block, then by time (rows without one
// last), keeping the decoded order among equals, and processes by block and id: the order a part
// stores them in, so that the same blocks always give the same file.
func (b *Batch) SortByTime() {
	byTime := func(blockA, blockB string, a, b uint64) int {
		if c := cmp.Compare(blockA, blockB); c != 0 {
			return c
		}
		return cmp.Compare(a-1, b-1) // 0 (no time) wraps to the largest value: last
	}
	slices.SortStableFunc(b.Logs, func(x, y LogEntry) int { return byTime(x.BlockID, y.BlockID, x.Time, y.Time) })
	slices.SortStableFunc(b.Measures, func(x, y Measure) int { return byTime(x.BlockID, y.BlockID, x.Time, y.Time) })
	slices.SortStableFunc(b.Spans, func(x, y Span) int { return byTime(x.BlockID, y.BlockID, x.StartTime, y.StartTime) })
	slices.SortStableFunc(b.Processes, func(x, y Process) int {
		return cmp.Or(cmp.Compare(x.BlockID, y.BlockID), cmp.Compare(x.ProcessID, y.ProcessID))
	})
	for i, p := range b.Processes {
		if b.processIndex != nil {
			b.processIndex[p.ProcessID] = i
		}
	}
}

// valuesWriter collects a row as the neutral values Values returns.
type valuesWriter []any

func (v *valuesWriter) add(x any)                { *v = append(*v, x) }
func (v *valuesWriter) Null()                    { v.add(nil) }
func (v *valuesWriter) Timestamp(unixNano int64) { v.add(time.Unix(0, unixNano).UTC()) }
func (v *valuesWriter) Bool(x bool)              { v.add(x) }
func (v *valuesWriter) Int32(x int32)            { v.add(x) }
func (v *valuesWriter) Uint32(x uint32)          { v.add(x) }
func (v *valuesWriter) Int64(x int64)            { v.add(x) }
func (v *valuesWriter) Uint64(x uint64)          { v.add(x) }
func (v *valuesWriter) Float64(x float64)        { v.add(x) }
func (v *valuesWriter) String(x string)          { v.add(x) }
func (v *valuesWriter) Attrs(x Attrs)            { v.add(x) }
func (v *valuesWriter) Float64s(x []float64)     { v.add(nonNil(x)) }
func (v *valuesWriter) Uint64s(x []uint64)       { v.add(nonNil(x)) }

func (v *valuesWriter) Quantiles(qs []Quantile) {
	out := make([]any, len(qs))
	for i, q := range qs {
		out[i] = map[string]any{"quantile": q.Quantile, "value": q.Value}
	}
	v.add(out)
}

func (v *valuesWriter) Events(events []SpanEvent) {
	out := make([]any, len(events))
	for i, e := range events {
		out[i] = map[string]any{"time": timestamp(e.Time), "name": e.Name, "attributes": e.Attributes}
	}
	v.add(out)
}

func (v *valuesWriter) Links(links []SpanLink) {
	out := make([]any, len(links))
	for i, l := range links {
		out[i] = map[string]any{"trace_id": l.TraceID, "span_id": l.SpanID, "attributes": l.Attributes}
	}
	v.add(out)
}
