// Package rows turns the lake's stored blocks into rows of the lakehouse tables (log_entries,
// measures, otel_spans, processes) and defines those tables' columns: it is the one place where
// the table contract of docs/contracts/lakehouse.md §1 is written down in code.
//
// It is pure Go on purpose: no DuckDB, no store, no I/O, so that every decoding rule is
// table-tested without cgo and the static ingester could import it one day. It must never guess:
// a block that does not decode, or whose bytes do not hash to its id, is refused whole with an
// error that says why, and the caller decides what to tell the user.
package rows

import (
	"strings"
	"time"
)

// Table is one lakehouse table: its name in SQL and in object keys, and its columns in the order
// that Values renders them.
type Table struct {
	Name    string
	Columns []Column
	// TimeColumn is the column a query window filters on; "" for processes, which have no event
	// time of their own.
	TimeColumn string
}

// Column is a column name and its DuckDB type.
type Column struct {
	Name string
	Type string
}

// Attrs is an attribute map as the tables store it: string values as they are, any other AnyValue
// as compact JSON. A nil Attrs is an empty map.
type Attrs map[string]string

// MapType is the DuckDB type of every attribute map.
const MapType = "MAP(VARCHAR, VARCHAR)"

// Tables lists every table in a stable order.
var Tables = []*Table{&LogEntries, &Measures, &Spans, &Processes}

// TableByName finds a table; nil when there is none.
func TableByName(name string) *Table {
	for _, t := range Tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// DDL is the column list of CREATE TABLE, e.g. `"time" TIMESTAMP_NS, "name" VARCHAR`.
func (t *Table) DDL() string {
	var b strings.Builder
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`"` + c.Name + `" ` + c.Type)
	}
	return b.String()
}

// Shared column groups, so that every row table ends the same way (lakehouse.md §1: every row
// table carries process_id, service_name and block_id).
var provenanceColumns = []Column{
	{"process_id", "VARCHAR"},
	{"service_name", "VARCHAR"},
	{"block_id", "VARCHAR"},
}

// Provenance is where a row came from; every row table carries it.
type Provenance struct {
	ProcessID   string
	ServiceName string
	BlockID     string
}

// timestamp is a TIMESTAMP_NS value as Values renders it: nil for NULL (see Timestamp).
func timestamp(unixNano uint64) any {
	if ns, ok := Timestamp(unixNano); ok {
		return time.Unix(0, ns).UTC()
	}
	return nil
}

func cols(groups ...[]Column) []Column {
	var out []Column
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}
