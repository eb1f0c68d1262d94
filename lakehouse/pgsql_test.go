//go:build cgo

package lakehouse

import (
	"strings"
	"testing"
)

func TestSplitStatementsKeepsLiteralsWhole(t *testing.T) {
	got := splitStatements(`SELECT ';' AS a; SELECT $$x;y$$, "a;b" FROM t -- c; d
	; /* ; */ SELECT E'it\'s;' ;;`)
	var texts []string
	for _, s := range got {
		texts = append(texts, strings.TrimSpace(joinTokens(s)))
	}
	want := []string{`SELECT ';' AS a`, `SELECT $$x;y$$, "a;b" FROM t -- c; d`, `/* ; */ SELECT E'it\'s;'`}
	if strings.Join(texts, "|") != strings.Join(want, "|") {
		t.Errorf("split into %q, want %q", texts, want)
	}
}

func TestBindParametersOutsideLiterals(t *testing.T) {
	v1, v2 := "o'k", "5"
	toks, err := bindParameters(lexSQL(`SELECT '$1', $1, "$2", $2 FROM t WHERE x = $2`), []*string{&v1, &v2})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := joinTokens(toks), `SELECT '$1', 'o''k', "$2", '5' FROM t WHERE x = '5'`; got != want {
		t.Errorf("bound %s, want %s", got, want)
	}
	if _, err := bindParameters(lexSQL(`SELECT $3`), []*string{&v1}); err == nil {
		t.Error("a parameter past those given was bound")
	}
	toks, _ = bindParameters(lexSQL(`SELECT $1`), []*string{nil})
	if got := joinTokens(toks); got != "SELECT NULL" {
		t.Errorf("a NULL parameter is %s", got)
	}
}

func TestRewritesForDuckDB(t *testing.T) {
	c := &pgConn{srv: &Server{version: "PostgreSQL 16.0 (x)"}, params: map[string]string{"search_path": `"$user", public`},
		user: "grafana", database: "lake"}
	for in, want := range map[string]string{
		`SELECT version()`:                      `SELECT 'PostgreSQL 16.0 (x)'`,
		`SELECT current_setting('search_path')`: `SELECT '"$user", public'`,
		`SELECT current_setting('nope', true)`:  `SELECT NULL`,
		`SELECT 1 FROM pg_catalog.pg_class c WHERE c.relname OPERATOR(pg_catalog.~) '^(x)$' COLLATE pg_catalog.default`: `SELECT 1 FROM pg_class c WHERE c.relname ~ '^(x)$' `,
		`SELECT current_database(), session_user, current_user, x.user`:                                                 `SELECT 'lake', 'grafana', 'grafana', x.user`,
		`SELECT 'log_entries'::regclass`:                          `SELECT (SELECT oid FROM pg_catalog.pg_class WHERE relname = 'log_entries' LIMIT 1)`,
		`SELECT s[i] FROM generate_series(1, 2) as i, t`:          `SELECT s[i] FROM generate_series(1, 2) as i(i), t`,
		`SELECT generate_series(1, 2) AS i`:                       `SELECT generate_series(1, 2) AS i`,
		`SELECT extversion FROM pg_extension WHERE extname = 'x'`: `SELECT extversion FROM (` + emptyCatalogTables["pg_extension"] + `) AS pg_extension WHERE extname = 'x'`,
	} {
		toks, err := c.rewrite(lexSQL(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := joinTokens(toks); got != want {
			t.Errorf("%s\n  became %s\n  want   %s", in, got, want)
		}
	}
	if _, err := c.rewrite(lexSQL(`SELECT current_setting('nope')`)); asPgError(err).code != "42704" {
		t.Errorf("an unknown setting: %v, want 42704", err)
	}
	for in, want := range map[string]string{
		`SELECT 1 FROM t WHERE time > now() - interval '1 hour'`:  `SELECT 1 FROM t WHERE time > now()::TIMESTAMP - interval '1 hour'`,
		`SELECT 1 FROM t WHERE time > '2026-01-01'::timestamptz`:  `SELECT 1 FROM t WHERE time > '2026-01-01'::timestamptz::TIMESTAMP`,
		`SELECT 1 FROM t WHERE time > TIMESTAMPTZ '2026-01-01'`:   `SELECT 1 FROM t WHERE time > TIMESTAMPTZ '2026-01-01'::TIMESTAMP`,
		`SELECT 1 FROM t WHERE time > current_timestamp`:          `SELECT 1 FROM t WHERE time > current_timestamp::TIMESTAMP`,
		`SELECT 1 FROM public.log_entries, "public"."measures" m`: `SELECT 1 FROM log_entries, "measures" m`,
	} {
		if got := joinTokens(lakeTimes(dropSchemaQualifiers(lexSQL(in), "public", "main"))); got != want {
			t.Errorf("%s\n  became %s\n  want   %s", in, got, want)
		}
	}
}
