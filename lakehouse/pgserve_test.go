//go:build cgo

package lakehouse

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestServeAnswersPgxOverTheExtendedProtocol runs the contract's Claude Code queries through pgx,
// with parameters bound by the extended protocol (Parse/Bind/Describe/Execute) and by the simple
// one, and checks that values come back typed: timestamptz, json maps, bigint counts.
func TestServeAnswersPgxOverTheExtendedProtocol(t *testing.T) {
	l := startLake(t)
	sendClaudeCodeTelemetry(t, l)
	s := startServe(t, l, nil)
	ctx := context.Background()
	since, until := time.Now().Add(-2*time.Hour), time.Now().Add(time.Hour)
	const costs = `SELECT attributes['model'] AS model, sum(value) AS usd FROM measures
		WHERE name = $1 AND time BETWEEN $2 AND $3 GROUP BY 1 ORDER BY 1`
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol} {
		t.Run(mode.String(), func(t *testing.T) {
			conn := s.connect(t, s.QueryToken)
			rows, err := conn.Query(ctx, costs, mode, "claude_code.cost.usage", since, until)
			if err != nil {
				t.Fatal(err)
			}
			type cost struct {
				Model string
				USD   float64
			}
			got, err := pgx.CollectRows(rows, pgx.RowToStructByName[cost])
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0] != (cost{"claude-haiku", 0.125}) || got[1] != (cost{"claude-opus", 1.75}) {
				t.Errorf("cost by model = %v, want claude-haiku 0.125 and claude-opus 1.75", got)
			}

			var calls int64
			var avgMS float64
			err = conn.QueryRow(ctx, `SELECT count(*) AS calls, avg(duration_ns) / 1e6 AS avg_ms FROM otel_spans
				WHERE name = 'claude_code.tool' AND attributes['tool_name'] = $1`, mode, "Bash").Scan(&calls, &avgMS)
			if err != nil || calls != 2 || avgMS != 200 {
				t.Errorf("Bash calls = %d avg %v ms (%v), want 2 and 200", calls, avgMS, err)
			}

			var at time.Time
			var attrs map[string]any
			var service string
			err = conn.QueryRow(ctx, `SELECT time, attributes, service_name FROM log_entries
				WHERE attributes['status_code'] = $1`, mode, "529").Scan(&at, &attrs, &service)
			if err != nil {
				t.Fatal(err)
			}
			if time.Since(at) > time.Hour || at.Location() == nil || attrs["error"] != "Overloaded" || service != "claude-code" {
				t.Errorf("api error row: time %v, attributes %v, service %q", at, attrs, service)
			}
		})
	}

	t.Run("result columns carry PostgreSQL types", func(t *testing.T) {
		conn := s.connect(t, s.QueryToken)
		rows, err := conn.Query(ctx, `SELECT time, attributes, count(*) AS n, value, name, count FROM measures GROUP BY ALL LIMIT 1`)
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
		// count is a UBIGINT, past what a bigint holds: numeric.
		want := []string{"timestamptz", "json", "int8", "float8", "text", "numeric"}
		for i, f := range rows.FieldDescriptions() {
			typ, ok := conn.TypeMap().TypeForOID(f.DataTypeOID)
			if !ok || typ.Name != want[i] {
				t.Errorf("column %s is oid %d (%v), want %s", f.Name, f.DataTypeOID, typ, want[i])
			}
		}
	})

	t.Run("what clients send on connect", func(t *testing.T) {
		conn := s.connect(t, s.QueryToken)
		var version, tz, sp string
		if err := conn.QueryRow(ctx, `SELECT version()`).Scan(&version); err != nil || !strings.HasPrefix(version, "PostgreSQL 16") {
			t.Errorf("version() = %q (%v)", version, err)
		}
		if _, err := conn.Exec(ctx, `SET application_name = 'grafana'`); err != nil {
			t.Error(err)
		}
		if _, err := conn.Exec(ctx, `SET extra_float_digits = 3`); err != nil {
			t.Error(err)
		}
		if err := conn.QueryRow(ctx, `SHOW TimeZone`).Scan(&tz); err != nil || tz != "UTC" {
			t.Errorf("SHOW TimeZone = %q (%v)", tz, err)
		}
		if err := conn.QueryRow(ctx, `SELECT current_setting('search_path')`).Scan(&sp); err != nil || !strings.Contains(sp, "public") {
			t.Errorf("current_setting('search_path') = %q (%v)", sp, err)
		}
		var app string
		if err := conn.QueryRow(ctx, `SHOW application_name`).Scan(&app); err != nil || app != "grafana" {
			t.Errorf("SHOW application_name = %q (%v)", app, err)
		}
		tables, err := pgx.CollectRows(must(conn.Query(ctx, `SELECT table_name FROM information_schema.tables
			WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`)), pgx.RowTo[string])
		if err != nil || strings.Join(tables, ",") != "log_entries,measures,otel_spans,processes" {
			t.Errorf("information_schema.tables = %v (%v)", tables, err)
		}
		var dataType string
		if err := conn.QueryRow(ctx, `SELECT data_type FROM information_schema.columns
			WHERE table_name = $1 AND column_name = $2`, "log_entries", "time").Scan(&dataType); err != nil ||
			dataType != "timestamp with time zone" {
			t.Errorf("the type of log_entries.time in information_schema = %q (%v)", dataType, err)
		}
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n
			ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'`).Scan(&n); err != nil || n != 4 {
			t.Errorf("pg_class lists %d tables in public (%v), want 4", n, err)
		}
		// Grafana's configuration page and SQL builder: the version and TimescaleDB checks, then
		// the table picker (its schema constraint walks the search_path with generate_series over
		// string_to_array in a FROM list) and the column picker.
		var version100 float64
		if err := conn.QueryRow(ctx, `SELECT current_setting('server_version_num')::int/100 as version`).Scan(&version100); err != nil || version100 != 1600 {
			t.Errorf("Grafana's version check = %v (%v), want 1600", version100, err)
		}
		if rows, err := pgx.CollectRows(must(conn.Query(ctx, `SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'`)), pgx.RowTo[string]); err != nil || len(rows) != 0 {
			t.Errorf("Grafana's TimescaleDB check = %v (%v), want no row", rows, err)
		}
		schemaConstraint := `quote_ident(table_schema) IN (
  SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s)`
		picked, err := pgx.CollectRows(must(conn.Query(ctx, `SELECT CASE WHEN `+schemaConstraint+`
      THEN quote_ident(table_name) ELSE quote_ident(table_schema) || '.' || quote_ident(table_name) END AS "table"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema', 'pg_catalog', '_timescaledb_cache', '_timescaledb_catalog')
    ORDER BY CASE WHEN `+schemaConstraint+` THEN 0 ELSE 1 END, 1`)), pgx.RowTo[string])
		if err != nil || strings.Join(picked, ",") != "log_entries,measures,otel_spans,processes" {
			t.Errorf("Grafana's table picker = %v (%v)", picked, err)
		}
		type col struct{ Column, Type string }
		cols, err := pgx.CollectRows(must(conn.Query(ctx, `SELECT quote_ident(column_name) AS "column", data_type AS "type"
			FROM information_schema.columns WHERE quote_ident(table_name) = 'otel_spans'`)), pgx.RowToStructByName[col])
		if err != nil || len(cols) < 10 || !slices.Contains(cols, col{"start_time", "timestamp with time zone"}) ||
			!slices.Contains(cols, col{"attributes", "json"}) || !slices.Contains(cols, col{"name", "text"}) {
			t.Errorf("Grafana's column picker for otel_spans = %v (%v)", cols, err)
		}
		var db, user string
		var oid int64
		if err := conn.QueryRow(ctx, `SELECT current_database(), current_user, 'log_entries'::regclass`).Scan(&db, &user, &oid); err != nil ||
			db != "lake" || user != "grafana" || oid == 0 {
			t.Errorf("current_database(), current_user, 'log_entries'::regclass = %q, %q, %d (%v)", db, user, oid, err)
		}
		var udt string
		if err := conn.QueryRow(ctx, `SELECT c.udt_name FROM information_schema.columns c
			WHERE c.table_name = 'measures' AND c.column_name = 'value'`).Scan(&udt); err != nil || udt != "float8" {
			t.Errorf("udt_name of measures.value = %q (%v), want float8", udt, err)
		}
		if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
			t.Error(err)
		}
		if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
			t.Error(err)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestServeReadsTheWindowThePredicatesGive: a statement without a time predicate reads the last
// 24 hours; one with Grafana's BETWEEN reads the hours it names, however old.
func TestServeReadsTheWindowThePredicatesGive(t *testing.T) {
	l := startLake(t)
	sendClaudeCodeTelemetry(t, l)
	s := startServe(t, l, nil)
	conn := s.connect(t, s.QueryToken)
	ctx := context.Background()
	count := func(query string, args ...any) int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, query, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM log_entries WHERE body = 'three days ago'`); n != 0 {
		t.Errorf("a statement without a window read %d rows from three days ago, want 0 (the default window is 24h)", n)
	}
	from, to := time.Now().Add(-80*time.Hour).UTC().Format(time.RFC3339), time.Now().Add(-60*time.Hour).UTC().Format(time.RFC3339)
	if n := count(`SELECT count(*) FROM log_entries WHERE body = 'three days ago' AND time BETWEEN '` + from + `' AND '` + to + `'`); n != 1 {
		t.Errorf("Grafana's BETWEEN read %d rows from three days ago, want 1", n)
	}
	if n := count(`SELECT count(*) FROM log_entries WHERE time >= $1 AND time < $2`, time.Now().Add(-80*time.Hour), time.Now().Add(-60*time.Hour)); n != 1 {
		t.Errorf("parameters as bounds read %d rows, want 1", n)
	}
	if n := count(`SELECT count(*) FROM log_entries WHERE time > now() - interval '4 days'`); n != 3 {
		t.Errorf("now() - interval '4 days' read %d rows, want 3", n)
	}
	if _, err := conn.Exec(ctx, `SET lakehouse.window = '7d'`); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT count(*) FROM log_entries WHERE body = 'three days ago'`); n != 1 {
		t.Errorf("with lakehouse.window = 7d, a statement without a window read %d old rows, want 1", n)
	}
	if _, err := conn.Exec(ctx, `SELECT count(*) FROM log_entries WHERE time > '2000-01-01'`); sqlState(err) != "54000" {
		t.Errorf("a window of 26 years: %v, want SQLSTATE 54000", err)
	}
}

func TestStatementBounds(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	cases := []struct {
		sql          string
		since, until time.Time
	}{
		{`SELECT 1 FROM measures WHERE time BETWEEN '2026-04-30T10:00:00Z' AND '2026-04-30T11:00:00Z'`,
			at("2026-04-30T10:00:00Z"), at("2026-04-30T11:00:00Z").Add(1)},
		{`SELECT 1 FROM measures WHERE "time" >= '2026-04-30 10:00:00' AND time <= '2026-04-30T11:00:00Z'`,
			at("2026-04-30T10:00:00Z"), at("2026-04-30T11:00:00Z").Add(1)},
		{`SELECT 1 FROM otel_spans s WHERE s.start_time > TIMESTAMPTZ '2026-04-30 10:00:00+00' AND s.start_time < '2026-04-30T11:00:00Z'::timestamptz`,
			at("2026-04-30T10:00:00Z"), at("2026-04-30T11:00:00Z")},
		{`SELECT 1 FROM measures WHERE time > now() - interval '2 hours'`, now.Add(-2 * time.Hour), now},
		{`SELECT 1 FROM measures WHERE time < '2026-04-30T00:00:00Z'`, at("2026-04-29T00:00:00Z"), at("2026-04-30T00:00:00Z")},
		{`SELECT 1 FROM measures WHERE time >= to_timestamp(1777500000)`, time.Unix(1777500000, 0).UTC(), now},
		{`SELECT 1 FROM measures`, now.Add(-24 * time.Hour), now},
		// An OR may let rows outside a bound through: the default window, not a guess.
		{`SELECT 1 FROM measures WHERE time > '2026-04-30T10:00:00Z' OR name = 'x'`, now.Add(-24 * time.Hour), now},
		{`SELECT 1 FROM measures WHERE name = 'x' OR (time > '2026-04-30T10:00:00Z' AND kind = 'sum')`, now.Add(-24 * time.Hour), now},
		{`SELECT 1 FROM measures WHERE (time > '2026-04-30T10:00:00Z' AND kind = 'sum') OR name = 'x'`, now.Add(-24 * time.Hour), now},
		{`SELECT 1 FROM measures WHERE NOT time > '2026-04-30T10:00:00Z'`, now.Add(-24 * time.Hour), now},
		{`SELECT 1 FROM measures WHERE NOT (time > '2026-04-30T10:00:00Z')`, now.Add(-24 * time.Hour), now},
		{`SELECT count(*) FILTER (WHERE time > '2026-04-30T10:00:00Z') FROM measures`, now.Add(-24 * time.Hour), now},
		{`SELECT CASE WHEN time > '2026-04-30T10:00:00Z' THEN 1 END FROM measures`, now.Add(-24 * time.Hour), now},
		{`SELECT 1 FROM measures WHERE time > '2026-04-30T10:00:00Z' UNION ALL SELECT 1 FROM log_entries`, now.Add(-24 * time.Hour), now},
		// An OR, a NOT or a parenthesis that do not reach the bound leave it binding.
		{`SELECT 1 FROM measures WHERE time > '2026-04-30T10:00:00Z' AND (name = 'a' OR name = 'b') AND attributes['x'] IS NOT NULL AND name NOT IN ('c')`,
			at("2026-04-30T10:00:00Z"), now},
		{`SELECT 1 FROM measures WHERE kind = 'sum' AND (time BETWEEN '2026-04-30T10:00:00Z' AND '2026-04-30T11:00:00Z') GROUP BY 1 ORDER BY 1`,
			at("2026-04-30T10:00:00Z"), at("2026-04-30T11:00:00Z").Add(1)},
		// Two bounds on one end (a subquery's) widen to the wider.
		{`SELECT 1 FROM measures WHERE time > '2026-04-30T10:00:00Z' AND process_id IN (SELECT process_id FROM log_entries WHERE time > '2026-04-29T10:00:00Z')`,
			at("2026-04-29T10:00:00Z"), now},
	}
	for _, c := range cases {
		w := statementBounds(lexSQL(c.sql), now).window(now, DefaultServeWindow)
		if !w.Since.Equal(c.since) || !w.Until.Equal(c.until) {
			t.Errorf("%s\n  window %s .. %s, want %s .. %s", c.sql, w.Since, w.Until, c.since, c.until)
		}
	}
}

// TestServeRefusesBadInputAndKeepsServing: each bad input gets its SQLSTATE on a connection that
// goes on working, and the server keeps answering others.
func TestServeRefusesBadInputAndKeepsServing(t *testing.T) {
	l := startLake(t)
	sendClaudeCodeTelemetry(t, l)
	s := startServe(t, l, func(o *ServeOptions) {
		o.MaxRows = 5
		o.MaxConcurrentQueries = 1
		o.QueueTimeout = 300 * time.Millisecond
		o.MaxConnections = 4
	})
	other := startServe(t, startLake(t), nil) // tenant B
	ctx := context.Background()

	t.Run("passwords", func(t *testing.T) {
		for name, password := range map[string]string{
			"a bad password":              "not-a-token",
			"a token of another tenant":   other.QueryToken,
			"a token without query right": s.SendToken,
		} {
			_, err := pgx.Connect(ctx, s.dsn(password))
			if sqlState(err) != "28P01" {
				t.Errorf("%s: %v, want SQLSTATE 28P01", name, err)
			}
		}
		// and tenant B's server takes its own token only
		if _, err := pgx.Connect(ctx, other.dsn(s.QueryToken)); sqlState(err) != "28P01" {
			t.Errorf("tenant A's token on tenant B's server: %v, want 28P01", err)
		}
	})

	conn := s.connect(t, s.QueryToken)
	for _, c := range []struct{ name, sql, state string }{
		{"an unknown table", `SELECT * FROM nope`, "42P01"},
		{"an unknown column", `SELECT nope FROM log_entries`, "42703"},
		{"a syntax error", `SELECT FROM WHERE log_entries`, "42601"},
		{"a write", `CREATE TABLE x (a int)`, "25006"},
		{"a local file", `SELECT * FROM read_csv('/etc/passwd')`, "42501"},
		{"a result over the row limit, from the lake", `SELECT l.body FROM log_entries l, range(10)`, "54000"},
		{"a result over the row limit, from no table", `SELECT * FROM range(10)`, "54000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := conn.Exec(ctx, c.sql)
			if sqlState(err) != c.state {
				t.Errorf("%s: %v, want SQLSTATE %s", c.sql, err, c.state)
			}
			var one int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM processes`).Scan(&one); err != nil || one != 1 {
				t.Errorf("the connection after the error: %d processes (%v), want 1", one, err)
			}
		})
	}

	slow := `SELECT sum(hash(r.range)) FROM processes, range(1000000000000) r`
	t.Run("a cancelled query", func(t *testing.T) {
		errc := make(chan error, 1)
		go func() { _, err := conn.Exec(ctx, slow); errc <- err }()
		time.Sleep(500 * time.Millisecond)
		if err := conn.PgConn().CancelRequest(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			if sqlState(err) != "57014" || !strings.Contains(err.Error(), "user request") {
				t.Errorf("cancelled: %v, want SQLSTATE 57014 by user request", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the cancel request did not stop the query")
		}
	})

	t.Run("the statement timeout", func(t *testing.T) {
		if _, err := conn.Exec(ctx, `SET statement_timeout = '300ms'`); err != nil {
			t.Fatal(err)
		}
		_, err := conn.Exec(ctx, slow)
		if sqlState(err) != "57014" || !strings.Contains(err.Error(), "timeout") {
			t.Errorf("past the timeout: %v, want SQLSTATE 57014 statement timeout", err)
		}
		conn.Exec(ctx, `RESET statement_timeout`)
	})

	t.Run("more concurrent queries than the tenant may run", func(t *testing.T) {
		busy := s.connect(t, s.QueryToken)
		errc := make(chan error, 1)
		go func() { _, err := busy.Exec(ctx, slow); errc <- err }()
		time.Sleep(500 * time.Millisecond)
		_, err := conn.Exec(ctx, `SELECT count(*) FROM log_entries`)
		if sqlState(err) != "53000" {
			t.Errorf("a second query with one slot taken: %v, want SQLSTATE 53000", err)
		}
		busy.PgConn().CancelRequest(ctx)
		<-errc
	})

	t.Run("more connections than the server takes", func(t *testing.T) {
		// conn is one once the server has seen the subtests before close theirs; three more fill
		// the four.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			s.Srv.mu.Lock()
			n := len(s.Srv.conns)
			s.Srv.mu.Unlock()
			if n == 1 {
				break
			}
		}
		for range 3 {
			s.connect(t, s.QueryToken)
		}
		if _, err := pgx.Connect(ctx, s.dsn(s.QueryToken)); sqlState(err) != "53300" {
			t.Errorf("a fifth connection: %v, want SQLSTATE 53300", err)
		}
	})

	t.Run("a client that disconnects mid-result", func(t *testing.T) {
		nc, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		fe := pgproto3.NewFrontend(nc, nc)
		fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "x"}})
		fe.Flush()
		if _, ok := must(fe.Receive()).(*pgproto3.AuthenticationCleartextPassword); !ok {
			t.Fatal("no password asked for")
		}
		fe.Send(&pgproto3.PasswordMessage{Password: s.QueryToken})
		fe.Flush()
		for m := must(fe.Receive()); ; m = must(fe.Receive()) {
			if _, ok := m.(*pgproto3.ReadyForQuery); ok {
				break
			}
		}
		// Many rows from the lake, in a session that holds the only slot: read a few, hang up.
		fe.Send(&pgproto3.Query{String: `SELECT r.range, p.* FROM processes p, range(4) r, range(1000000) x LIMIT 5`})
		fe.Flush()
		must(fe.Receive())
		nc.Close()
		deadline := time.Now().Add(10 * time.Second)
		for len(s.Srv.slots) != 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if len(s.Srv.slots) != 0 {
			t.Error("the query slot of the client that left was not released")
		}
	})

	var n int
	fresh := s.connect(t, s.QueryToken)
	if err := fresh.QueryRow(ctx, `SELECT count(*) FROM otel_spans`).Scan(&n); err != nil || n != 3 {
		t.Errorf("after all that, a new client reads %d spans (%v), want 3", n, err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM otel_spans`).Scan(&n); err != nil || n != 3 {
		t.Errorf("after all that, the first client reads %d spans (%v), want 3", n, err)
	}
	m := s.Srv.metrics
	for series, want := range map[string]float64{
		"logins refused": testutil.ToFloat64(m.logins.WithLabelValues("refused")),
		"42P01":          testutil.ToFloat64(m.statements.WithLabelValues("42P01")),
		"54000":          testutil.ToFloat64(m.statements.WithLabelValues("54000")),
		"57014":          testutil.ToFloat64(m.statements.WithLabelValues("57014")),
	} {
		if want < 1 {
			t.Errorf("the metric of %s was not counted", series)
		}
	}
}

// TestServeRequiresTLSWhenItHasACertificate: with a certificate, a client gets TLS and a plain
// connection is refused before any password is sent.
func TestServeRequiresTLSWhenItHasACertificate(t *testing.T) {
	certFile, keyFile := selfSignedCert(t)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	l := startLake(t)
	sendClaudeCodeTelemetry(t, l)
	s := startServe(t, l, func(o *ServeOptions) { o.TLS = &tls.Config{Certificates: []tls.Certificate{pair}} })
	ctx := context.Background()
	if _, err := pgx.Connect(ctx, s.dsn(s.QueryToken)); sqlState(err) != "28000" {
		t.Errorf("a plain connection: %v, want SQLSTATE 28000", err)
	}
	conn, err := pgx.Connect(ctx, strings.Replace(s.dsn(s.QueryToken), "sslmode=disable", "sslmode=verify-full sslrootcert="+certFile, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM otel_spans`).Scan(&n); err != nil || n != 3 {
		t.Errorf("over TLS: %d spans (%v), want 3", n, err)
	}
	if _, ok := conn.PgConn().Conn().(*tls.Conn); !ok {
		t.Errorf("the connection is a %T, not TLS", conn.PgConn().Conn())
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key.
func selfSignedCert(t *testing.T) (string, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certFile, keyFile
}
