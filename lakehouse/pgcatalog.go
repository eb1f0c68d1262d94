//go:build cgo

package lakehouse

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/telemetrylake/telemetrylake/lakehouse/rows"
)

// catalogEngine answers what does not read the lake: SELECT 1, version(), the catalogs that
// clients and their pickers look up. It is one in-memory DuckDB made at start, holding the four
// tables, empty, in schema public, with the PostgreSQL types the server sends (timestamptz,
// json…), for information_schema and pg_catalog lookups: psql's \d, Grafana's and DBeaver's
// pickers. (The shape engine, openShapeEngine, holds them with their DuckDB types.)
type catalogEngine struct {
	db *sql.DB
}

// serverVersion is what the server says it is: the PostgreSQL version whose protocol and
// catalogs it follows, for the clients that check (pgjdbc, DBeaver, Grafana's version picker).
const serverVersion = "16.0"

func openCatalogEngine(ctx context.Context, versionText string) (*catalogEngine, error) {
	connector, err := duckdb.NewConnector("", func(execer driver.ExecerContext) error {
		for _, s := range []string{`SET TimeZone = 'UTC'`, `CREATE SCHEMA IF NOT EXISTS public`, `SET schema = 'public'`, `SET search_path = 'public,main'`} {
			if _, err := execer.ExecContext(ctx, s, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	db := sql.OpenDB(connector)
	c := &catalogEngine{db: db}
	var stmts []string
	for _, t := range rows.Tables {
		pgCols := make([]string, len(t.Columns))
		for i, col := range t.Columns {
			oid, _ := pgColumnType(col.Type)
			pgCols[i] = ident(col.Name) + " " + catalogTypes[oid]
		}
		stmts = append(stmts, fmt.Sprintf(`CREATE TABLE public.%s (%s)`, ident(t.Name), strings.Join(pgCols, ", ")))
	}
	// What PostgreSQL clients call and DuckDB's pg_catalog lacks. The lake has one user, the
	// tenant; nothing is ever invisible to it.
	stmts = append(stmts,
		`CREATE MACRO pg_get_userbyid(id) AS 'lakehouse'`,
		// string_to_array in a FROM list, as Grafana's schema constraint has it: one row, the array.
		`CREATE MACRO string_to_array(str, sep) AS TABLE SELECT string_split(str, sep) AS s`,
		`CREATE MACRO array_lower(a, d) AS CASE WHEN len(a) > 0 THEN 1 END`,
		`CREATE MACRO array_upper(a, d) AS CASE WHEN len(a) > 0 THEN len(a) END`,
		`CREATE MACRO quote_ident(s) AS CASE WHEN regexp_full_match(s, '[a-z_][a-z0-9_]*') THEN s ELSE '"' || replace(s, '"', '""') || '"' END`,
		`CREATE MACRO pg_encoding_to_char(e) AS 'UTF8'`,
		`CREATE MACRO pg_backend_pid() AS 0`,
		`CREATE MACRO pg_postmaster_start_time() AS current_timestamp`,
		`CREATE MACRO pg_is_in_recovery() AS false`,
		// No file, extension or network from here on: a statement that reads no lake table must
		// not read the server's disk either. The switch is one-way in DuckDB.
		`SET enable_external_access = false`,
	)
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			db.Close()
			return nil, fmt.Errorf("duckdb: catalog: %s: %w", s, err)
		}
	}
	return c, nil
}

// catalogTypes are the DuckDB types whose names DuckDB's information_schema shows as the
// PostgreSQL types the server sends.
var catalogTypes = map[uint32]string{
	pgtype.BoolOID: "BOOLEAN", pgtype.Int2OID: "SMALLINT", pgtype.Int4OID: "INTEGER", pgtype.Int8OID: "BIGINT",
	pgtype.NumericOID: "DECIMAL(38, 0)", pgtype.Float4OID: "REAL", pgtype.Float8OID: "DOUBLE",
	pgtype.TimestamptzOID: "TIMESTAMPTZ", pgtype.DateOID: "DATE", pgtype.TimeOID: "TIME",
	pgtype.IntervalOID: "INTERVAL", pgtype.ByteaOID: "BLOB", pgtype.UUIDOID: "UUID", pgtype.JSONOID: "JSON",
	pgtype.TextOID: "VARCHAR",
}

func (c *catalogEngine) Close() error { return c.db.Close() }
