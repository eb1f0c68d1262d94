//go:build cgo

package lakehouse

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/telemetrylake/telemetrylake/lakehouse/parts"
	"github.com/telemetrylake/telemetrylake/lakehouse/rows"
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

// macros are created on a connection whose statements use them (defineMacrosFor).
// histogram_quantile follows Prometheus: find the bucket where the rank q·count falls and
// interpolate linearly inside it; the first bucket starts at 0 (when its bound is positive); a rank
// in the +Inf bucket answers the largest finite bound. bucket_counts has one more element than
// bucket_bounds, as OTLP sends them.
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

// writeParquet copies the rows a SELECT gives to a local Parquet file (see partCopySQL).
func (e *engine) writeParquet(ctx context.Context, selectSQL, file string, t *rows.Table, blockIDs []string, span parts.TimeRange) error {
	if err := e.exec(ctx, partCopySQL(selectSQL, file, t, blockIDs, span)); err != nil {
		return fmt.Errorf("duckdb: write part %s: %w", file, err)
	}
	return nil
}

// partCopySQL copies the rows a SELECT gives, in its order, to a local Parquet file with the
// part's metadata: its table, block set and, for a table with a time column, span of times.
func partCopySQL(selectSQL, file string, t *rows.Table, blockIDs []string, span parts.TimeRange) string {
	kv := fmt.Sprintf(`{%s: %s, %s: %s, %s: %s`,
		quote(parts.MetaFormat), quote(parts.FormatV1),
		quote(parts.MetaTable), quote(t.Name),
		quote(parts.MetaBlocks), quote(parts.JoinBlocks(blockIDs)))
	if t.TimeColumn != "" {
		kv += fmt.Sprintf(`, %s: %s`, quote(parts.MetaTimes), quote(span.String()))
	}
	kv += "}"
	return fmt.Sprintf(`COPY (%s) TO %s (FORMAT parquet, COMPRESSION zstd, KV_METADATA %s)`, selectSQL, quote(file), kv)
}

// tableSpan is the span of the times in a table's time column.
func (e *engine) tableSpan(ctx context.Context, table string, t *rows.Table) (parts.TimeRange, error) {
	var min, max sql.NullInt64
	q := fmt.Sprintf(`SELECT epoch_ns(min(%[1]s)), epoch_ns(max(%[1]s)) FROM %[2]s`, ident(t.TimeColumn), ident(table))
	if err := e.conn.QueryRowContext(ctx, q).Scan(&min, &max); err != nil {
		return parts.TimeRange{}, fmt.Errorf("duckdb: time span of %s: %w", table, err)
	}
	if !min.Valid || !max.Valid {
		return parts.SpanOf(nil, nil), nil
	}
	return parts.SpanOf(&min.Int64, &max.Int64), nil
}

// execOverArrow runs a statement that reads Arrow records as the view named view. DuckDB scans
// the records in place, once: the statement must read the view at most once.
func (e *engine) execOverArrow(ctx context.Context, view string, t *rows.Table, recs []arrow.RecordBatch, statement string) error {
	schemas, err := arrowSchemas()
	if err != nil {
		return err
	}
	reader, err := array.NewRecordReader(schemas[t], recs)
	if err != nil {
		return fmt.Errorf("arrow rows of %s: %w", t.Name, err)
	}
	defer reader.Release()
	return e.conn.Raw(func(dc any) error {
		conn := dc.(*duckdb.Conn)
		a, err := duckdb.NewArrowFromConn(conn)
		if err != nil {
			return fmt.Errorf("duckdb: %w", err)
		}
		release, err := a.RegisterView(reader, view)
		if err != nil {
			return fmt.Errorf("duckdb: arrow rows of %s: %w", t.Name, err)
		}
		defer release()
		// The view outlives neither the statement nor the records it reads.
		defer conn.ExecContext(context.WithoutCancel(ctx), "DROP VIEW IF EXISTS "+ident(view), nil)
		if _, err := conn.ExecContext(ctx, statement, nil); err != nil {
			return fmt.Errorf("duckdb: %w", err)
		}
		return nil
	})
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
