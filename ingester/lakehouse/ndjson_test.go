//go:build cgo

package lakehouse

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/telemetrylake/telemetrylake/ingester/lakehouse/rows"
)

// TestRowsLoadTheSameThroughJSONAsThroughTheAppender loads awkward rows both ways: JSON lines
// through read_json (how the loader loads them) and DuckDB's appender, value by value (the
// reference: it takes Go values as they are). Every row must come out the same.
func TestRowsLoadTheSameThroughJSONAsThroughTheAppender(t *testing.T) {
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
	for _, tb := range rowTables {
		t.Run(tb.Name, func(t *testing.T) {
			for _, name := range []string{"by_appender", "by_json"} {
				if err := e.createTable(ctx, name, tb); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.appendRows("by_appender", tb, b); err != nil {
				t.Fatal(err)
			}
			data, longest, err := appendRowsJSON(nil, tb, b)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "rows.jsonl")
			if err := os.WriteFile(file, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := e.exec(ctx, readJSONSQL("by_json", tb, file, longest)); err != nil {
				t.Fatalf("read_json: %v\n%s", err, data)
			}
			var n, onlyAppender, onlyJSON int
			err = e.conn.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM by_json),
				(SELECT count(*) FROM (SELECT * FROM by_appender EXCEPT ALL SELECT * FROM by_json)),
				(SELECT count(*) FROM (SELECT * FROM by_json EXCEPT ALL SELECT * FROM by_appender))`).Scan(&n, &onlyAppender, &onlyJSON)
			if err != nil {
				t.Fatal(err)
			}
			if n != b.Rows(tb) || onlyAppender != 0 || onlyJSON != 0 {
				t.Errorf("%d rows loaded from JSON, want %d; %d rows only by the appender, %d only by JSON\n%s",
					n, b.Rows(tb), onlyAppender, onlyJSON, data)
			}
		})
	}
}
