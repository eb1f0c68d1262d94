package rows

import "testing"

// TestEveryRowWritesOneValuePerColumn: a writer that takes values by position (the lakehouse's
// Arrow records) depends on each row writing exactly its table's columns, for every kind of row.
func TestEveryRowWritesOneValuePerColumn(t *testing.T) {
	f := 1.5
	rows := map[*Table][]interface{ WriteColumns(ColumnWriter) }{
		&LogEntries: {&LogEntry{}, &LogEntry{Body: new(string), Time: 1}},
		&Spans:      {&Span{}, &Span{Events: []SpanEvent{{}}, Links: []SpanLink{{}}}},
		&Processes:  {&Process{}},
	}
	for _, kind := range []string{KindSum, KindGauge, KindHistogram, KindExponentialHistogram, KindSummary} {
		rows[&Measures] = append(rows[&Measures], &Measure{Kind: kind, Value: &f})
	}
	for table, rs := range rows {
		for _, r := range rs {
			var v valuesWriter
			r.WriteColumns(&v)
			if len(v) != len(table.Columns) {
				t.Errorf("a %T wrote %d values for the %d columns of %s", r, len(v), len(table.Columns), table.Name)
			}
		}
	}
}
