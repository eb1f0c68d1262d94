//go:build cgo

package lakehouse

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/telemetrylake/telemetrylake/lakehouse/rows"
)

// Rows reach DuckDB as Arrow records: the decode workers build them in parallel, in Go memory,
// and DuckDB scans them in place. Each table's Arrow schema comes from its DuckDB column types,
// in the types DuckDB reads back as those: TIMESTAMP_NS from a timestamp in nanoseconds without
// a zone, MAP from a map, a list of STRUCT from a list of structs.

// arrowSchemas holds each table's schema, made once.
var arrowSchemas = sync.OnceValues(func() (map[*rows.Table]*arrow.Schema, error) {
	out := map[*rows.Table]*arrow.Schema{}
	for _, t := range rows.Tables {
		fields := make([]arrow.Field, len(t.Columns))
		for i, c := range t.Columns {
			dt, err := arrowType(c.Type)
			if err != nil {
				return nil, fmt.Errorf("column %s of %s: %w", c.Name, t.Name, err)
			}
			fields[i] = arrow.Field{Name: c.Name, Type: dt, Nullable: true}
		}
		out[t] = arrow.NewSchema(fields, nil)
	}
	return out, nil
})

// arrowType reads the DuckDB types that rows.Tables use: the scalars, T[], MAP(K, V) and
// STRUCT(name T, ...).
func arrowType(duckType string) (arrow.DataType, error) {
	s := strings.TrimSpace(duckType)
	if inner, ok := strings.CutSuffix(s, "[]"); ok {
		elem, err := arrowType(inner)
		if err != nil {
			return nil, err
		}
		return arrow.ListOf(elem), nil
	}
	if args, ok := typeArgs(s, "MAP"); ok {
		if len(args) != 2 {
			return nil, fmt.Errorf("type %s: a MAP has two types", duckType)
		}
		key, err := arrowType(args[0])
		if err != nil {
			return nil, err
		}
		item, err := arrowType(args[1])
		if err != nil {
			return nil, err
		}
		return arrow.MapOf(key, item), nil
	}
	if args, ok := typeArgs(s, "STRUCT"); ok {
		fields := make([]arrow.Field, len(args))
		for i, a := range args {
			name, typ, found := strings.Cut(a, " ")
			if !found {
				return nil, fmt.Errorf("type %s: field %q has no type", duckType, a)
			}
			dt, err := arrowType(typ)
			if err != nil {
				return nil, err
			}
			fields[i] = arrow.Field{Name: name, Type: dt, Nullable: true}
		}
		return arrow.StructOf(fields...), nil
	}
	if dt, ok := arrowScalars[s]; ok {
		return dt, nil
	}
	return nil, fmt.Errorf("no Arrow type for DuckDB type %s", duckType)
}

var arrowScalars = map[string]arrow.DataType{
	"VARCHAR":      arrow.BinaryTypes.String,
	"BOOLEAN":      arrow.FixedWidthTypes.Boolean,
	"INTEGER":      arrow.PrimitiveTypes.Int32,
	"UINTEGER":     arrow.PrimitiveTypes.Uint32,
	"BIGINT":       arrow.PrimitiveTypes.Int64,
	"UBIGINT":      arrow.PrimitiveTypes.Uint64,
	"DOUBLE":       arrow.PrimitiveTypes.Float64,
	"TIMESTAMP_NS": &arrow.TimestampType{Unit: arrow.Nanosecond},
}

// typeArgs splits "NAME(a, b(c, d), e)" into its top-level arguments.
func typeArgs(s, name string) ([]string, bool) {
	rest, ok := strings.CutPrefix(s, name+"(")
	if !ok || !strings.HasSuffix(rest, ")") {
		return nil, false
	}
	rest = rest[:len(rest)-1]
	var args []string
	depth, start := 0, 0
	for i, r := range rest {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				args = append(args, strings.TrimSpace(rest[start:i]))
				start = i + 1
			}
		}
	}
	return append(args, strings.TrimSpace(rest[start:])), true
}

// arrowRecord renders a batch's rows of one table as an Arrow record; the caller releases it.
func arrowRecord(t *rows.Table, b *rows.Batch) (arrow.RecordBatch, error) {
	schemas, err := arrowSchemas()
	if err != nil {
		return nil, err
	}
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schemas[t])
	defer rb.Release()
	rb.Reserve(b.Rows(t))
	w := &arrowWriter{cols: rb.Fields()}
	if err := b.Write(t, w); err != nil {
		return nil, err
	}
	if w.col != 0 {
		return nil, fmt.Errorf("rows of %s wrote a partial row: %d of %d columns", t.Name, w.col, len(w.cols))
	}
	return rb.NewRecordBatch(), nil
}

// arrowWriter appends the values a row writes to the builders of its columns, in turn.
type arrowWriter struct {
	cols []array.Builder
	col  int
}

func (w *arrowWriter) next() array.Builder {
	b := w.cols[w.col]
	if w.col++; w.col == len(w.cols) {
		w.col = 0
	}
	return b
}

func (w *arrowWriter) Null() { w.next().AppendNull() }
func (w *arrowWriter) Timestamp(ns int64) {
	w.next().(*array.TimestampBuilder).Append(arrow.Timestamp(ns))
}
func (w *arrowWriter) Bool(v bool)        { w.next().(*array.BooleanBuilder).Append(v) }
func (w *arrowWriter) Int32(v int32)      { w.next().(*array.Int32Builder).Append(v) }
func (w *arrowWriter) Uint32(v uint32)    { w.next().(*array.Uint32Builder).Append(v) }
func (w *arrowWriter) Int64(v int64)      { w.next().(*array.Int64Builder).Append(v) }
func (w *arrowWriter) Uint64(v uint64)    { w.next().(*array.Uint64Builder).Append(v) }
func (w *arrowWriter) Float64(v float64)  { w.next().(*array.Float64Builder).Append(v) }
func (w *arrowWriter) String(v string)    { w.next().(*array.StringBuilder).Append(v) }
func (w *arrowWriter) Attrs(a rows.Attrs) { appendAttrs(w.next().(*array.MapBuilder), a) }
func (w *arrowWriter) Float64s(v []float64) {
	appendList(w.next(), v, (*array.Float64Builder).AppendValues)
}
func (w *arrowWriter) Uint64s(v []uint64) {
	appendList(w.next(), v, (*array.Uint64Builder).AppendValues)
}
func (w *arrowWriter) Quantiles(qs []rows.Quantile) {
	sb := structList(w.next())
	for _, q := range qs {
		sb.Append(true)
		sb.FieldBuilder(0).(*array.Float64Builder).Append(q.Quantile)
		sb.FieldBuilder(1).(*array.Float64Builder).Append(q.Value)
	}
}

func (w *arrowWriter) Events(events []rows.SpanEvent) {
	sb := structList(w.next())
	for _, e := range events {
		sb.Append(true)
		tb := sb.FieldBuilder(0).(*array.TimestampBuilder)
		if ns, ok := rows.Timestamp(e.Time); ok {
			tb.Append(arrow.Timestamp(ns))
		} else {
			tb.AppendNull()
		}
		sb.FieldBuilder(1).(*array.StringBuilder).Append(e.Name)
		appendAttrs(sb.FieldBuilder(2).(*array.MapBuilder), e.Attributes)
	}
}

func (w *arrowWriter) Links(links []rows.SpanLink) {
	sb := structList(w.next())
	for _, l := range links {
		sb.Append(true)
		sb.FieldBuilder(0).(*array.StringBuilder).Append(l.TraceID)
		sb.FieldBuilder(1).(*array.StringBuilder).Append(l.SpanID)
		appendAttrs(sb.FieldBuilder(2).(*array.MapBuilder), l.Attributes)
	}
}

// structList starts a list of structs in a column and returns the builder of its elements.
func structList(b array.Builder) *array.StructBuilder {
	lb := b.(*array.ListBuilder)
	lb.Append(true)
	return lb.ValueBuilder().(*array.StructBuilder)
}

func appendList[B array.Builder, T any](b array.Builder, v []T, appendValues func(B, []T, []bool)) {
	lb := b.(*array.ListBuilder)
	lb.Append(true)
	appendValues(lb.ValueBuilder().(B), v, nil)
}

// appendAttrs appends an attribute map with its keys sorted, so that equal maps compare equal.
func appendAttrs(mb *array.MapBuilder, a rows.Attrs) {
	mb.Append(true)
	var small [16]string // most maps are small: sort their keys without allocating
	keys := small[:0]
	for k := range a {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	kb, ib := mb.KeyBuilder().(*array.StringBuilder), mb.ItemBuilder().(*array.StringBuilder)
	for _, k := range keys {
		kb.Append(k)
		ib.Append(a[k])
	}
}
