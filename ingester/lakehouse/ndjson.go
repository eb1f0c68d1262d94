//go:build cgo

package lakehouse

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/telemetrylake/telemetrylake/ingester/lakehouse/rows"
	"github.com/telemetrylake/telemetrylake/ingester/otlpwire"
)

// appendRowsJSON renders a batch's rows of a table as newline-delimited JSON objects keyed by
// column name, in the shape that DuckDB's read_json turns into the table's column types
// (readJSONSQL): timestamps as "YYYY-MM-DD HH:MM:SS.nnnnnnnnn" in UTC, attribute maps as objects
// with their keys sorted (so that equal maps compare equal), lists as arrays, structs as
// objects, and non-finite doubles as the strings DuckDB casts back ("NaN", "Infinity").
// longest is the length of the longest line it wrote.
func appendRowsJSON(buf []byte, t *rows.Table, b *rows.Batch) (out []byte, longest int, err error) {
	keys := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		keys[i] = string(otlpwire.AppendJSONString(nil, c.Name)) + ":"
	}
	err = b.Each(t, func(values []any) error {
		start := len(buf)
		buf = append(buf, '{')
		for i, v := range values {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, keys[i]...)
			var err error
			if buf, err = appendJSONValue(buf, v); err != nil {
				return fmt.Errorf("column %s: %w", t.Columns[i].Name, err)
			}
		}
		buf = append(buf, '}', '\n')
		longest = max(longest, len(buf)-start)
		return nil
	})
	return buf, longest, err
}

func appendJSONValue(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...), nil
	case string:
		return otlpwire.AppendJSONString(buf, x), nil
	case bool:
		return strconv.AppendBool(buf, x), nil
	case int32:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(buf, x, 10), nil
	case uint32:
		return strconv.AppendUint(buf, uint64(x), 10), nil
	case uint64:
		return strconv.AppendUint(buf, x, 10), nil
	case float64:
		return appendJSONFloat(buf, x), nil
	case time.Time:
		buf = append(buf, '"')
		buf = x.UTC().AppendFormat(buf, "2006-01-02 15:04:05.000000000")
		return append(buf, '"'), nil
	case rows.Attrs:
		var small [16]string // most maps are small: sort their keys without allocating
		keys := small[:0]
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf = append(buf, '{')
		for i, k := range keys {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = otlpwire.AppendJSONString(buf, k)
			buf = append(buf, ':')
			buf = otlpwire.AppendJSONString(buf, x[k])
		}
		return append(buf, '}'), nil
	case []float64:
		if x == nil {
			return append(buf, "null"...), nil
		}
		buf = append(buf, '[')
		for i, f := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONFloat(buf, f)
		}
		return append(buf, ']'), nil
	case []uint64:
		if x == nil {
			return append(buf, "null"...), nil
		}
		buf = append(buf, '[')
		for i, n := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendUint(buf, n, 10)
		}
		return append(buf, ']'), nil
	case []any:
		buf = append(buf, '[')
		for i, e := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = appendJSONValue(buf, e); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	case map[string]any: // a struct: its fields by name
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf = append(buf, '{')
		for i, k := range keys {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = otlpwire.AppendJSONString(buf, k)
			buf = append(buf, ':')
			var err error
			if buf, err = appendJSONValue(buf, x[k]); err != nil {
				return nil, err
			}
		}
		return append(buf, '}'), nil
	}
	return nil, fmt.Errorf("no JSON form for a %T", v)
}

// appendJSONFloat writes a double so that it reads back bit for bit; JSON has no NaN or
// infinities, so those go as strings, which DuckDB casts to DOUBLE.
func appendJSONFloat(buf []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(buf, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(buf, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(buf, `"-Infinity"`...)
	}
	return strconv.AppendFloat(buf, f, 'g', -1, 64)
}

// readJSONSQL loads a file of appendRowsJSON's rows into a temp table with t's columns. The
// column types are given, not detected, so that every file loads the same way. longestRow is the
// file's longest line: read_json refuses an object larger than its maximum_object_size, and sizes
// its buffers by it, so the limit is what the file needs and no more.
func readJSONSQL(table string, t *rows.Table, file string, longestRow int) string {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = quote(c.Name) + ": " + quote(c.Type)
	}
	return fmt.Sprintf(`INSERT INTO %s BY NAME SELECT * FROM read_json(%s, format = 'newline_delimited', auto_detect = false, maximum_object_size = %d, columns = {%s})`,
		ident(table), quote(file), max(longestRow+1, 16<<20), strings.Join(cols, ", "))
}
