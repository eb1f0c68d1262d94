//go:build cgo

package lakehouse

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/telemetrylake/telemetrylake/ingester/lakehouse/parts"
	"github.com/telemetrylake/telemetrylake/ingester/lakehouse/rows"
)

// engine is one embedded DuckDB database on one connection: temp tables, views and macros belong
// to a connection, so everything a command does goes through conn.
type engine struct {
	db            *sql.DB
	conn          *sql.Conn
	macrosDefined bool
}

func openEngine(ctx context.Context) (*engine, error) {
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	db := sql.OpenDB(connector)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	e := &engine{db: db, conn: conn}
	// Times are stored as UTC instants (TIMESTAMP_NS has no zone); show and compare them in UTC
	// whatever the machine's zone.
	if err := e.exec(ctx, `SET TimeZone = 'UTC'`); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// defineMacrosFor creates the macros before a statement that names one. Creating them costs a few
// milliseconds, a noticeable share of a quick query that uses none.
func (e *engine) defineMacrosFor(ctx context.Context, statement string) error {
	if e.macrosDefined || !strings.Contains(strings.ToLower(statement), "histogram_quantile") {
		return nil
	}
	for _, m := range macros {
		if err := e.exec(ctx, m); err != nil {
			return fmt.Errorf("duckdb: create macro: %w", err)
		}
	}
	e.macrosDefined = true
	return nil
}

func (e *engine) Close() error {
	e.conn.Close()
	return e.db.Close()
}

func (e *engine) exec(ctx context.Context, query string) error {
	_, err := e.conn.ExecContext(ctx, query)
	return err
}

// macros are created on a connection whose statements use them. histogram_quantile follows Prometheus: find the bucket
// where the rank q·count falls and interpolate linearly inside it; the first bucket starts at 0
// (when its bound is positive); a rank in the +Inf bucket answers the largest finite bound.
// bucket_counts has one more element than bucket_bounds, as OTLP sends them.
var macros = []string{
	`CREATE OR REPLACE TEMP MACRO __histogram_quantile_at(rank, bounds, counts, idx) AS (
		CASE
			WHEN idx = len(counts) THEN bounds[len(bounds)]
			WHEN idx = 1 AND bounds[1] <= 0 THEN bounds[1]
			WHEN counts[idx] = 0 THEN (CASE WHEN idx = 1 THEN 0 ELSE bounds[idx - 1] END)
			ELSE (CASE WHEN idx = 1 THEN 0 ELSE bounds[idx - 1] END)
				+ (bounds[idx] - (CASE WHEN idx = 1 THEN 0 ELSE bounds[idx - 1] END))
				* (rank - (CASE WHEN idx = 1 THEN 0 ELSE list_sum(counts[1:idx - 1])::DOUBLE END))
				/ counts[idx]::DOUBLE
		END)`,
	`CREATE OR REPLACE TEMP MACRO __histogram_quantile(q, bucket_bounds, bucket_counts) AS (
		CASE
			WHEN q IS NULL OR bucket_bounds IS NULL OR bucket_counts IS NULL THEN NULL
			WHEN q < 0 THEN '-Infinity'::DOUBLE
			WHEN q > 1 THEN 'Infinity'::DOUBLE
			WHEN len(bucket_counts) < 2 OR len(bucket_counts) <> len(bucket_bounds) + 1
				OR coalesce(list_sum(bucket_counts), 0) = 0 THEN 'NaN'::DOUBLE
			ELSE __histogram_quantile_at(
				q * list_sum(bucket_counts)::DOUBLE, bucket_bounds, bucket_counts,
				list_position(
					list_transform(range(1, len(bucket_counts) + 1),
						lambda i: list_sum(bucket_counts[1:i])::DOUBLE >= q * list_sum(bucket_counts)::DOUBLE),
					true))
		END)`,
	// The casts let integer lists and untyped NULLs through, as a user would type them.
	`CREATE OR REPLACE TEMP MACRO histogram_quantile(q, bucket_bounds, bucket_counts) AS
		__histogram_quantile(q::DOUBLE, bucket_bounds::DOUBLE[], bucket_counts::UBIGINT[])`,
}

// createTable makes an empty temp table with a lakehouse table's columns.
func (e *engine) createTable(ctx context.Context, name string, t *rows.Table) error {
	return e.exec(ctx, fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE %s (%s)`, ident(name), t.DDL()))
}

// appendRows adds a batch's rows of table t to the temp table name through DuckDB's appender,
// which is far faster than INSERTs but makes a cgo call per value: the loader uses it for the few
// process rows, and loads the many rows of the other tables as JSON (appendRowsJSON).
func (e *engine) appendRows(name string, t *rows.Table, b *rows.Batch) error {
	if b.Rows(t) == 0 {
		return nil
	}
	return e.conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", name)
		if err != nil {
			return fmt.Errorf("duckdb: appender for %s: %w", name, err)
		}
		err = b.Each(t, func(values []any) error {
			args := make([]driver.Value, len(values))
			for i, v := range values {
				args[i] = toDuck(v)
			}
			return a.AppendRow(args...)
		})
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

// copyPart writes the rows of a temp table to a local Parquet file with the part's metadata.
func (e *engine) copyPart(ctx context.Context, table, file string, t *rows.Table, blockIDs []string) error {
	kv := fmt.Sprintf(`{%s: %s, %s: %s, %s: %s`,
		quote(parts.MetaFormat), quote(parts.FormatV1),
		quote(parts.MetaTable), quote(t.Name),
		quote(parts.MetaBlocks), quote(parts.JoinBlocks(blockIDs)))
	if t.TimeColumn != "" {
		var min, max sql.NullInt64
		q := fmt.Sprintf(`SELECT epoch_ns(min(%[1]s)), epoch_ns(max(%[1]s)) FROM %[2]s`, ident(t.TimeColumn), ident(table))
		if err := e.conn.QueryRowContext(ctx, q).Scan(&min, &max); err != nil {
			return fmt.Errorf("duckdb: time span of part %s: %w", file, err)
		}
		span := parts.SpanOf(nil, nil)
		if min.Valid && max.Valid {
			span = parts.SpanOf(&min.Int64, &max.Int64)
		}
		kv += fmt.Sprintf(`, %s: %s`, quote(parts.MetaTimes), quote(span.String()))
	}
	kv += "}"
	// Rows are ordered so that the same blocks give the same file whatever order they decoded in.
	order := "block_id"
	if t.TimeColumn != "" {
		order += ", " + ident(t.TimeColumn)
	}
	q := fmt.Sprintf(`COPY (SELECT * FROM %s ORDER BY %s) TO %s (FORMAT parquet, COMPRESSION zstd, KV_METADATA %s)`,
		ident(table), order, quote(file), kv)
	if err := e.exec(ctx, q); err != nil {
		return fmt.Errorf("duckdb: write part %s: %w", file, err)
	}
	return nil
}

// partMeta reads the lakehouse metadata of local Parquet files: for each file, its table and
// block set. A file without our format marker is reported, not guessed at.
func (e *engine) partMeta(ctx context.Context, files []string) (map[string]partInfo, error) {
	out := make(map[string]partInfo, len(files))
	if len(files) == 0 {
		return out, nil
	}
	q := fmt.Sprintf(`SELECT file_name, decode(key), decode(value) FROM parquet_kv_metadata(%s) WHERE decode(key) LIKE 'telemetrylake.%%'`, fileList(files))
	rs, err := e.conn.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("duckdb: read part metadata: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		var file, key, value string
		if err := rs.Scan(&file, &key, &value); err != nil {
			return nil, err
		}
		info := out[file]
		switch key {
		case parts.MetaFormat:
			info.format = value
		case parts.MetaTable:
			info.table = value
		case parts.MetaBlocks:
			info.blocks = parts.SplitBlocks(value)
		case parts.MetaTimes:
			info.times = parts.ParseTimeRange(value)
		}
		out[file] = info
	}
	return out, rs.Err()
}

type partInfo struct {
	format, table string
	blocks        []string
	times         parts.TimeRange
}

// ident quotes an SQL identifier.
func ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quote is an SQL string literal.
func quote(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

func fileList(files []string) string {
	q := make([]string, len(files))
	for i, f := range files {
		q[i] = quote(f)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
