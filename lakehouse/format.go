//go:build cgo

package lakehouse

import (
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// Output formats of `lakehouse sql`.
const (
	FormatTable = "table"
	FormatCSV   = "csv"
	FormatJSON  = "json"
)

// writeResult prints a result set. An error while reading rows is DuckDB's (a failed cast, an
// out-of-range value) and is returned as an SQLError.
func writeResult(out io.Writer, rs *sql.Rows, format string) error {
	cols, err := rs.Columns()
	if err != nil {
		return &SQLError{Err: err}
	}
	var records [][]any
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return &SQLError{Err: err}
		}
		records = append(records, vals)
	}
	if err := rs.Err(); err != nil {
		return &SQLError{Err: err}
	}
	switch format {
	case FormatCSV:
		w := csv.NewWriter(out)
		w.Write(cols)
		for _, r := range records {
			line := make([]string, len(r))
			for i, v := range r {
				if v != nil {
					line[i] = text(v)
				}
			}
			w.Write(line)
		}
		w.Flush()
		return w.Error()
	case FormatJSON:
		// An array of objects, each with the columns in the statement's order.
		var b strings.Builder
		b.WriteString("[")
		for i, r := range records {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n{")
			for j, v := range r {
				if j > 0 {
					b.WriteString(",")
				}
				k, _ := json.Marshal(cols[j])
				val, err := json.Marshal(jsonValue(v))
				if err != nil {
					return &SQLError{Err: fmt.Errorf("column %s: %w", cols[j], err)}
				}
				b.Write(k)
				b.WriteString(":")
				b.Write(val)
			}
			b.WriteString("}")
		}
		b.WriteString("\n]\n")
		_, err := io.WriteString(out, b.String())
		return err
	default:
		return writeTable(out, cols, records)
	}
}

// writeTable prints an aligned text table, NULL shown as NULL, and the row count.
func writeTable(out io.Writer, cols []string, records [][]any) error {
	cells := make([][]string, len(records))
	width := make([]int, len(cols))
	for i, c := range cols {
		width[i] = utf8.RuneCountInString(c)
	}
	for i, r := range records {
		cells[i] = make([]string, len(r))
		for j, v := range r {
			s := "NULL"
			if v != nil {
				s = strings.NewReplacer("\n", `\n`, "\t", `\t`).Replace(text(v))
			}
			cells[i][j] = s
			width[j] = max(width[j], utf8.RuneCountInString(s))
		}
	}
	var b strings.Builder
	line := func(vals []string) {
		for j, v := range vals {
			if j > 0 {
				b.WriteString(" │ ")
			}
			b.WriteString(v)
			if j < len(vals)-1 {
				b.WriteString(strings.Repeat(" ", width[j]-utf8.RuneCountInString(v)))
			}
		}
		b.WriteByte('\n')
	}
	line(cols)
	for j := range cols {
		if j > 0 {
			b.WriteString("─┼─")
		}
		b.WriteString(strings.Repeat("─", width[j]))
	}
	b.WriteByte('\n')
	for _, r := range cells {
		line(r)
	}
	fmt.Fprintf(&b, "(%d row%s)\n", len(records), map[bool]string{true: "", false: "s"}[len(records) == 1])
	_, err := io.WriteString(out, b.String())
	return err
}

// text renders a value the way DuckDB's own shell does, closely enough to read.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return x
	case []byte:
		return string(x)
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05.999999999")
	case float32:
		return formatFloat(float64(x), 32)
	case float64:
		return formatFloat(x, 64)
	case *big.Int:
		return x.String()
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = text(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ": " + text(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case duckdb.OrderedMap:
		keys, vals := x.Keys(), x.Values()
		parts := make([]string, len(keys))
		for i := range keys {
			parts[i] = text(keys[i]) + "=" + text(vals[i])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

func formatFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e15) {
		return strconv.FormatFloat(f, 'e', -1, bits)
	}
	return strconv.FormatFloat(f, 'f', -1, bits)
}

// jsonValue makes a scanned value encodable: times as RFC 3339 strings, maps as objects, and
// the floats JSON has no numbers for as strings.
func jsonValue(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return formatFloat(x, 64)
		}
	case float32:
		return jsonValue(float64(x))
	case []byte:
		return string(x)
	case *big.Int:
		return json.Number(x.String())
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonValue(e)
		}
		return out
	case duckdb.OrderedMap:
		keys, vals := x.Keys(), x.Values()
		out := make(map[string]any, len(keys))
		for i := range keys {
			out[text(keys[i])] = jsonValue(vals[i])
		}
		return out
	}
	return v
}
