//go:build cgo

package lakehouse

import (
	"context"
	"database/sql/driver"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/telemetrylake/telemetrylake/lakehouse/rows"
)

// TestRowsLoadTheSameThroughArrowAsThroughTheAppender loads awkward rows both ways: as Arrow
// records (how the loader hands them to DuckDB) and through DuckDB's appender, value by value (the
// reference: it takes the rows' Values, Go values as they are). Every row must come out the same.
func TestRowsLoadTheSameThroughArrowAsThroughTheAppender(t *testing.T) {
	str := func(s string) *string { return &s }
	f := func(v float64) *float64 { return &v }
	u := func(v uint64) *uint64 { return &v }
	i32 := func(v int32) *int32 { return &v }
	i64 := func(v int64) *int64 { return &v }
	prov := rows.Provenance{ProcessID: "p", ServiceName: "svc \"quoted\"", BlockID: "b"}
	awkward := "quote \" backslash \\ newline \n tab \t cr \r nul-ish \x01 \x1f emoji 🦆 accents é"
	b := &rows.Batch{
		Logs: []rows.LogEntry{
			{Time: 1, ObservedTime: 1<<63 - 2, SeverityNumber: -3, SeverityText: awkward, Body: str(awkward),
				EventName: "", Attributes: rows.Attrs{"z": "1", "a": awkward, "": "empty key", "json": `{"k":[1,2]}`},
				TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203331", Flags: math.MaxUint32, Provenance: prov},
			{Time: 1_767_225_600_123_456_789, Body: nil, Attributes: nil, Provenance: prov},
			{Body: str(""), Attributes: rows.Attrs{}, Provenance: prov},
		},
		Measures: []rows.Measure{
			{Time: 1_767_225_600_000_000_001, Name: "sum", Kind: rows.KindSum, Temporality: "delta", IsMonotonic: true,
				Value: f(math.NaN()), Attributes: rows.Attrs{"k": "v"}, Provenance: prov},
			{Name: "gauge", Kind: rows.KindGauge, Value: f(math.Inf(-1)), Provenance: prov},
			{Name: "histogram", Kind: rows.KindHistogram, Count: u(math.MaxUint64), Sum: f(math.Inf(1)),
				Min: f(-0.5), Max: f(1e308), BucketBounds: []float64{0.1, 1e-300, math.Inf(1)},
				BucketCounts: []uint64{0, math.MaxUint64, 3, 4}, Provenance: prov},
			{Name: "empty histogram", Kind: rows.KindHistogram, Provenance: prov},
			{Name: "exponential", Kind: rows.KindExponentialHistogram, ExpScale: i32(-10), ExpZeroCount: u(7),
				ExpZeroThreshold: f(1e-9), ExpPositiveOffset: i32(math.MinInt32), ExpPositiveCounts: []uint64{1, 2},
				ExpNegativeOffset: i32(3), Provenance: prov},
			{Name: "summary", Kind: rows.KindSummary, Count: u(2), Sum: f(3.25),
				Quantiles: []rows.Quantile{{Quantile: 0, Value: 1}, {Quantile: 0.99, Value: math.NaN()}}, Provenance: prov},
		},
		Spans: []rows.Span{
			{TraceID: "t", SpanID: "s", Name: awkward, Kind: "server", StartTime: 5, EndTime: 1<<63 - 2,
				DurationNs: i64(1<<63 - 7), StatusCode: "error", StatusMessage: awkward, Attributes: rows.Attrs{"a": "b"},
				Events: []rows.SpanEvent{{Time: 7, Name: "e", Attributes: rows.Attrs{"x": awkward}}, {Name: "no time"}},
				Links:  []rows.SpanLink{{TraceID: "t2", SpanID: "s2"}}, Provenance: prov},
			{Name: "bare", Provenance: prov},
			{Name: "past the largest time", StartTime: 1<<63 - 1, EndTime: math.MaxUint64, Provenance: prov},
		},
	}

	ctx := context.Background()
	e, err := openEngine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	b.Processes = []rows.Process{
		{ProcessID: "p1", ServiceName: awkward, ResourceAttributes: rows.Attrs{"a": awkward, "n": "1"}, FirstSeen: 3, BlockID: "b"},
		{ProcessID: "p2", FirstSeen: 1<<63 - 1, BlockID: "b"},
	}
	for _, tb := range rows.Tables {
		t.Run(tb.Name, func(t *testing.T) {
			for _, name := range []string{"by_appender", "by_arrow"} {
				if err := e.createTable(ctx, name, tb); err != nil {
					t.Fatal(err)
				}
			}
			if err := appendRows(e, "by_appender", tb, b); err != nil {
				t.Fatal(err)
			}
			rec, err := arrowRecord(tb, b)
			if err != nil {
				t.Fatal(err)
			}
			defer rec.Release()
			if err := e.execOverArrow(ctx, "arrow_rows", tb, []arrow.RecordBatch{rec}, "INSERT INTO by_arrow BY NAME SELECT * FROM arrow_rows"); err != nil {
				t.Fatal(err)
			}
			var n, onlyAppender, onlyArrow int
			err = e.conn.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM by_arrow),
				(SELECT count(*) FROM (SELECT * FROM by_appender EXCEPT ALL SELECT * FROM by_arrow)),
				(SELECT count(*) FROM (SELECT * FROM by_arrow EXCEPT ALL SELECT * FROM by_appender))`).Scan(&n, &onlyAppender, &onlyArrow)
			if err != nil {
				t.Fatal(err)
			}
			if n != b.Rows(tb) || onlyAppender != 0 || onlyArrow != 0 {
				t.Errorf("%d rows loaded from Arrow, want %d; %d rows only by the appender, %d only by Arrow", n, b.Rows(tb), onlyAppender, onlyArrow)
			}
		})
	}
}

// appendRows adds a batch's rows of table t to the temp table name through DuckDB's appender, the
// reference the loader's Arrow records are compared with.
func appendRows(e *engine, name string, t *rows.Table, b *rows.Batch) error {
	if b.Rows(t) == 0 {
		return nil
	}
	return e.conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", name)
		if err != nil {
			return fmt.Errorf("duckdb: appender for %s: %w", name, err)
		}
		for _, values := range rowValues(t, b) {
			args := make([]driver.Value, len(values))
			for i, v := range values {
				args[i] = toDuck(v)
			}
			if err = a.AppendRow(args...); err != nil {
				break
			}
		}
		if cerr := a.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("duckdb: append to %s: %w", name, err)
		}
		return nil
	})
}

// toDuck converts the rows package's neutral values into what the appender takes: an attribute
// map becomes a DuckDB MAP with its keys sorted, so that equal maps compare equal.
func toDuck(v any) any {
	switch x := v.(type) {
	case rows.Attrs:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var m duckdb.OrderedMap
		for _, k := range keys {
			m.Set(k, x[k])
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toDuck(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = toDuck(e)
		}
		return out
	}
	return v
}

// rowValues is every row of table t in the batch, as Values renders it.
func rowValues(t *rows.Table, b *rows.Batch) [][]any {
	var out [][]any
	switch t {
	case &rows.LogEntries:
		for i := range b.Logs {
			out = append(out, b.Logs[i].Values())
		}
	case &rows.Measures:
		for i := range b.Measures {
			out = append(out, b.Measures[i].Values())
		}
	case &rows.Spans:
		for i := range b.Spans {
			out = append(out, b.Spans[i].Values())
		}
	case &rows.Processes:
		for i := range b.Processes {
			out = append(out, b.Processes[i].Values())
		}
	}
	return out
}
