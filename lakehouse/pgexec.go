//go:build cgo

package lakehouse

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/telemetrylake/telemetrylake/lakehouse/rows"
)

// pgError is an error with the SQLSTATE the client gets.
type pgError struct {
	code, msg, hint string
}

func (e *pgError) Error() string { return e.code + ": " + e.msg }

var errStatementTimeout = errors.New("canceling statement due to statement timeout")

// asPgError gives any error of a statement its SQLSTATE (docs/contracts/lakehouse.md §6).
func asPgError(err error) *pgError {
	var pe *pgError
	if errors.As(err, &pe) {
		return pe
	}
	switch {
	case errors.Is(err, errCanceled):
		return &pgError{code: "57014", msg: errCanceled.Error()}
	case errors.Is(err, errStatementTimeout):
		return &pgError{code: "57014", msg: errStatementTimeout.Error()}
	}
	var storeErr *StoreError
	if errors.As(err, &storeErr) {
		return &pgError{code: "58030", msg: "the lake's store cannot be read: " + storeErr.Err.Error()}
	}
	var de *duckdb.Error
	if !errors.As(err, &de) {
		return &pgError{code: "XX000", msg: err.Error()}
	}
	msg := de.Msg
	switch de.Type {
	case duckdb.ErrorTypeParser, duckdb.ErrorTypeSyntax:
		return &pgError{code: "42601", msg: msg}
	case duckdb.ErrorTypeCatalog:
		switch {
		case strings.Contains(msg, "Table with name") || strings.Contains(msg, "Table Function"):
			return &pgError{code: "42P01", msg: msg, hint: "the lake's tables are log_entries, measures, otel_spans and processes"}
		case strings.Contains(msg, "Function"):
			return &pgError{code: "42883", msg: msg}
		}
		return &pgError{code: "42704", msg: msg}
	case duckdb.ErrorTypeBinder:
		switch {
		case strings.Contains(msg, "Referenced column") || strings.Contains(msg, "not found in FROM clause"):
			return &pgError{code: "42703", msg: msg}
		case strings.Contains(msg, "No function matches"):
			return &pgError{code: "42883", msg: msg}
		}
		return &pgError{code: "42804", msg: msg}
	case duckdb.ErrorTypeConversion, duckdb.ErrorTypeInvalidInput:
		return &pgError{code: "22P02", msg: msg}
	case duckdb.ErrorTypeOutOfRange, duckdb.ErrorTypeDecimal:
		return &pgError{code: "22003", msg: msg}
	case duckdb.ErrorTypeDivideByZero:
		return &pgError{code: "22012", msg: msg}
	case duckdb.ErrorTypeMismatchType, duckdb.ErrorTypeInvalidType:
		return &pgError{code: "42804", msg: msg}
	case duckdb.ErrorTypeNotImplemented:
		return &pgError{code: "0A000", msg: msg}
	case duckdb.ErrorTypePermission:
		return &pgError{code: "42501", msg: msg}
	case duckdb.ErrorTypeOutOfMemory:
		return &pgError{code: "53200", msg: msg}
	case duckdb.ErrorTypeInterrupt:
		return &pgError{code: "57014", msg: msg}
	case duckdb.ErrorTypeParameterNotResolved, duckdb.ErrorTypeParameterNotAllowed:
		return &pgError{code: "42P18", msg: msg}
	}
	return &pgError{code: "XX000", msg: msg}
}

// result is a statement's answer: rows still to read from DuckDB, rows made here (SHOW), or a
// command's tag alone.
type result struct {
	columns []column // nil for a command
	tag     string   // of a command
	local   [][]any
	rs      *sql.Rows
	ctx     context.Context
	release func()
	started time.Time // when the statement arrived
}

type column struct {
	name string
	oid  uint32
	size int16
}

func (r *result) close() {
	if r.rs != nil {
		r.rs.Close()
	}
	if r.release != nil {
		r.release()
		r.release = nil
	}
}

// fieldsIn describes the columns in the formats the client asked for.
func (r *result) fieldsIn(formats []int16) []pgproto3.FieldDescription {
	out := make([]pgproto3.FieldDescription, len(r.columns))
	for i, col := range r.columns {
		out[i] = pgproto3.FieldDescription{Name: []byte(col.name), DataTypeOID: col.oid, DataTypeSize: col.size,
			TypeModifier: -1, Format: formatOf(formats, i)}
	}
	return out
}

func formatOf(formats []int16, i int) int16 {
	switch {
	case len(formats) == 1:
		return formats[0]
	case i < len(formats):
		return formats[i]
	}
	return pgtype.TextFormatCode
}

func columnsOf(rs *sql.Rows, renamed map[string]string) ([]column, error) {
	types, err := rs.ColumnTypes()
	if err != nil {
		return nil, err
	}
	cols := make([]column, len(types))
	for i, t := range types {
		oid, size := pgColumnType(t.DatabaseTypeName())
		cols[i] = column{name: pgColumnName(t.Name(), renamed), oid: oid, size: size}
	}
	return cols, nil
}

// pgColumnName names an unaliased column as PostgreSQL would: a function call by its function
// (count(*) is "count", not DuckDB's "count_star()"), and a value the server put in place of
// version() or current_setting(…) by that function.
func pgColumnName(duck string, renamed map[string]string) string {
	if n, ok := renamed[duck]; ok {
		return n
	}
	if duck == "count_star()" {
		return "count"
	}
	if open := strings.IndexByte(duck, '('); open > 0 && strings.HasSuffix(duck, ")") && isPlainName(duck[:open]) {
		return strings.Trim(duck[:open], `"`)
	}
	return duck
}

func isPlainName(s string) bool {
	s = strings.Trim(s, `"`)
	for i := 0; i < len(s); i++ {
		if !isWordByte(s[i]) {
			return false
		}
	}
	return s != ""
}

// send writes a result's rows and its CommandComplete, within the server's limits.
func (c *pgConn) send(r *result, formats []int16) error {
	defer r.close()
	if r.rs == nil && r.columns == nil && r.tag == "" {
		c.be.Send(&pgproto3.EmptyQueryResponse{})
		return nil
	}
	if r.rs == nil {
		for _, row := range r.local {
			vals := make([][]byte, len(row))
			for i, v := range row {
				b, err := encodeValue(c.types, r.columns[i].oid, formatOf(formats, i), v)
				if err != nil {
					return err
				}
				vals[i] = b
			}
			c.be.Send(&pgproto3.DataRow{Values: vals})
		}
		tag := r.tag
		if r.columns != nil && tag == "" {
			tag = "SELECT " + strconv.Itoa(len(r.local))
		}
		c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(tag)})
		return nil
	}
	opts := c.srv.opts
	n, size := 0, int64(0)
	vals := make([]any, len(r.columns))
	ptrs := make([]any, len(r.columns))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for r.rs.Next() {
		if err := r.rs.Scan(ptrs...); err != nil {
			return c.statementErr(r.ctx, err)
		}
		row := make([][]byte, len(vals))
		for i, v := range vals {
			b, err := encodeValue(c.types, r.columns[i].oid, formatOf(formats, i), v)
			if err != nil {
				return &pgError{code: "XX000", msg: fmt.Sprintf("column %s: %v", r.columns[i].name, err)}
			}
			row[i] = b
			size += int64(len(b))
		}
		if n++; n > opts.MaxRows {
			return &pgError{code: "54000", msg: fmt.Sprintf("the result has more than %d rows, this server's limit", opts.MaxRows),
				hint: "aggregate, add a LIMIT, or narrow the time window"}
		}
		if size > opts.MaxResultBytes {
			return &pgError{code: "54000", msg: fmt.Sprintf("the result is larger than %d bytes, this server's limit", opts.MaxResultBytes),
				hint: "select fewer columns or rows, or aggregate"}
		}
		c.be.Send(&pgproto3.DataRow{Values: row})
		if n%256 == 0 {
			if err := c.be.Flush(); err != nil {
				return fmt.Errorf("%w: %v", errClientGone, err)
			}
		}
	}
	if err := r.rs.Err(); err != nil {
		return c.statementErr(r.ctx, err)
	}
	c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT " + strconv.Itoa(n))})
	c.srv.metrics.statements.WithLabelValues("00000").Inc()
	c.srv.metrics.seconds.Observe(time.Since(r.started).Seconds())
	return nil
}

// statementErr names why DuckDB stopped: a cancel request or the timeout, or its own error.
func (c *pgConn) statementErr(ctx context.Context, err error) error {
	if ctx != nil {
		if cause := context.Cause(ctx); cause != nil && (errors.Is(cause, errCanceled) || errors.Is(cause, errStatementTimeout)) {
			return cause
		}
	}
	return err
}

// readOnlyKeywords start the statements the server runs: it reads the lake, never writes.
var readOnlyKeywords = map[string]bool{"select": true, "with": true, "values": true, "table": true, "from": true,
	"describe": true, "summarize": true, "explain": true}

// writeKeywords start the statements that would change something: refused as read-only, where
// any other first word is a syntax error.
var writeKeywords = map[string]bool{"insert": true, "update": true, "delete": true, "create": true, "drop": true,
	"alter": true, "copy": true, "attach": true, "detach": true, "install": true, "load": true, "pragma": true,
	"call": true, "export": true, "import": true, "vacuum": true, "checkpoint": true, "truncate": true, "merge": true,
	"grant": true, "revoke": true, "comment": true, "use": true, "prepare": true, "execute": true, "analyze": true}

// sessionKeywords start the statements the connection answers itself.
var sessionKeywords = map[string]bool{"set": true, "reset": true, "show": true, "begin": true, "start": true,
	"commit": true, "end": true, "rollback": true, "abort": true, "discard": true, "deallocate": true}

// run runs one statement and returns its result, rows not yet read.
func (c *pgConn) run(ctx context.Context, toks []sqlToken) (*result, error) {
	kw := firstKeyword(toks)
	if kw == "" {
		if len(meaningful(toks)) == 0 {
			return &result{tag: ""}, nil
		}
		return nil, &pgError{code: "42601", msg: "syntax error: a statement starts with a keyword"}
	}
	if c.tx == 'E' && kw != "rollback" && kw != "abort" && kw != "commit" && kw != "end" {
		return nil, &pgError{code: "25P02", msg: "current transaction is aborted, commands ignored until end of transaction block"}
	}
	if sessionKeywords[kw] {
		return c.sessionStatement(kw, meaningful(toks))
	}
	if !readOnlyKeywords[kw] {
		if !writeKeywords[kw] {
			return nil, &pgError{code: "42601", msg: fmt.Sprintf("syntax error at or near %q", kw)}
		}
		return nil, &pgError{code: "25006", msg: fmt.Sprintf("cannot execute %s: the lake is read-only over this server", strings.ToUpper(kw)),
			hint: "SELECT from log_entries, measures, otel_spans and processes"}
	}
	toks, err := c.rewrite(toks)
	if err != nil {
		return nil, err
	}
	c.srv.queries.Add(1)
	c.started = time.Now()
	ctx, release := c.statementContext(ctx)
	if !readsLake(toks) {
		rs, err := c.srv.catalog.db.QueryContext(ctx, joinTokens(toks))
		if err != nil {
			release()
			return nil, c.statementErr(ctx, err)
		}
		return c.resultOf(ctx, rs, release)
	}
	toks = dropSchemaQualifiers(toks, "public", "main")
	w, err := c.queryWindow(toks, time.Now())
	if err != nil {
		release()
		return nil, err
	}
	toks = lakeTimes(toks)
	if err := c.srv.acquire(ctx); err != nil {
		release()
		return nil, c.statementErr(ctx, err)
	}
	releaseAll := func() { c.srv.releaseSlot(); release() }
	start := time.Now()
	opts := c.srv.opts
	s, err := Open(ctx, QueryOptions{Store: opts.Store, Window: w, CacheDir: opts.CacheDir, CacheMaxBytes: opts.CacheMaxBytes})
	if err != nil {
		releaseAll()
		return nil, c.statementErr(ctx, err)
	}
	for _, warning := range s.Warnings {
		c.be.Send(&pgproto3.NoticeResponse{Severity: "WARNING", SeverityUnlocalized: "WARNING", Code: "01000", Message: warning})
	}
	if err := s.sandbox(ctx, newPartCache(opts.CacheDir, opts.CacheMaxBytes).dir); err != nil {
		s.Close()
		releaseAll()
		return nil, err
	}
	rs, err := s.Query(ctx, joinTokens(toks))
	if err != nil {
		s.Close()
		releaseAll()
		return nil, c.statementErr(ctx, err)
	}
	c.log.Debug("statement", "since", w.Since, "until", w.Until, "open_ms", time.Since(start).Milliseconds(),
		"parts", s.Stats.Parts, "fresh_blocks", s.Stats.FreshBlocks)
	return c.resultOf(ctx, rs, func() { rs.Close(); s.Close(); releaseAll() })
}

func (c *pgConn) resultOf(ctx context.Context, rs *sql.Rows, release func()) (*result, error) {
	cols, err := columnsOf(rs, c.renamed)
	if err != nil {
		rs.Close()
		release()
		return nil, err
	}
	return &result{columns: cols, rs: rs, ctx: ctx, release: release, started: c.started}, nil
}

// statementContext bounds a statement by the statement timeout (the server's, or the session's
// if lower) and lets a CancelRequest stop it.
func (c *pgConn) statementContext(parent context.Context) (context.Context, func()) {
	timeout := c.srv.opts.StatementTimeout
	if ms, err := strconv.ParseInt(c.params["statement_timeout"], 10, 64); err == nil && ms > 0 && time.Duration(ms)*time.Millisecond < timeout {
		timeout = time.Duration(ms) * time.Millisecond
	}
	ctx, cancel := context.WithCancelCause(parent)
	ctx, stop := context.WithTimeoutCause(ctx, timeout, errStatementTimeout)
	c.mu.Lock()
	c.cancel = cancel
	c.mu.Unlock()
	return ctx, func() {
		stop()
		cancel(nil)
		c.mu.Lock()
		c.cancel = nil
		c.mu.Unlock()
	}
}

// acquire waits for one of the tenant's query slots.
func (s *Server) acquire(ctx context.Context) error {
	select {
	case s.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(s.opts.QueueTimeout)
	defer t.Stop()
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-t.C:
		return &pgError{code: "53000", msg: fmt.Sprintf("%d queries of this tenant are running and none finished within %s", s.opts.MaxConcurrentQueries, s.opts.QueueTimeout),
			hint: "retry later, or ask for a larger --max-concurrent-queries"}
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (s *Server) releaseSlot() { <-s.slots }

// rewrite makes what PostgreSQL clients send readable by DuckDB: version() and
// current_setting('x') become the values this server has for them, and the pg_catalog
// qualifiers, OPERATOR(pg_catalog.~) and COLLATE pg_catalog.default that psql writes are
// dropped (DuckDB resolves those names unqualified).
func (c *pgConn) rewrite(toks []sqlToken) ([]sqlToken, error) {
	out := make([]sqlToken, 0, len(toks))
	c.renamed = map[string]string{}
	literal := func(fn, v string) sqlToken {
		c.renamed[quote(v)] = fn
		return sqlToken{kind: tokString, text: quote(v)}
	}
	next := func(i int) int { // index of the next meaningful token after i
		for j := i + 1; j < len(toks); j++ {
			if toks[j].kind != tokSpace {
				return j
			}
		}
		return len(toks)
	}
	at := func(i int, text string) bool { return i < len(toks) && strings.EqualFold(toks[i].text, text) }
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.is("pg_catalog") && at(next(i), "."):
			i = next(i)
			continue
		case t.is("operator") && at(next(i), "("):
			// OPERATOR(pg_catalog.~) → ~
			j := next(i)
			var op string
			for j = next(j); j < len(toks) && !at(j, ")"); j = next(j) {
				if toks[j].kind == tokOp && toks[j].text != "." {
					op = toks[j].text
				}
			}
			out = append(out, sqlToken{kind: tokOp, text: op})
			i = j
			continue
		case t.is("collate"):
			j := next(i)
			if j < len(toks) && (toks[j].is("pg_catalog") || toks[j].value() == "default" || toks[j].value() == "C") {
				if toks[j].is("pg_catalog") {
					j = next(next(j))
				}
				i = j
				continue
			}
		case (t.is("session_user") || t.is("current_user") || t.is("user")) && !at(next(i), "(") && !at(next(i), ".") &&
			(len(out) == 0 || out[len(out)-1].text != "."):
			// The login's user name, as PostgreSQL answers, not DuckDB's "duckdb".
			out = append(out, literal(t.value(), c.user))
			continue
		case (t.is("current_database") || t.is("current_catalog")) && (t.is("current_catalog") || at(next(i), "(")):
			out = append(out, literal(t.value(), c.database))
			if t.is("current_database") {
				i = next(next(i))
			}
			continue
		case t.kind == tokString && at(next(i), "::") && next(next(i)) < len(toks) &&
			(toks[next(next(i))].is("regclass") || toks[next(next(i))].is("regtype") || toks[next(next(i))].is("regnamespace")):
			// 'name'::regclass is the oid of that relation (type, schema); DuckDB has no reg* types.
			lookup := regLookups[toks[next(next(i))].value()]
			out = append(out, sqlToken{kind: tokOp, text: "("}, sqlToken{kind: tokWord,
				text: fmt.Sprintf("SELECT oid FROM pg_catalog.%s WHERE %s = %s LIMIT 1", lookup[0], lookup[1], t.text)}, sqlToken{kind: tokOp, text: ")"})
			i = next(next(i))
			continue
		case t.is("version") && at(next(i), "(") && at(next(next(i)), ")"):
			out = append(out, literal("version", c.srv.version))
			i = next(next(i))
			continue
		case t.is("current_setting") && at(next(i), "("):
			j := next(next(i))
			if j < len(toks) && toks[j].kind == tokString {
				name := strings.ToLower(toks[j].value())
				k := next(j)
				missingOK := false
				if at(k, ",") {
					missingOK = at(next(k), "true")
					k = next(next(k))
				}
				if at(k, ")") {
					v, ok := c.params[name]
					switch {
					case ok:
						out = append(out, literal("current_setting", v))
					case missingOK:
						out = append(out, sqlToken{kind: tokWord, text: "NULL"})
					default:
						return nil, &pgError{code: "42704", msg: fmt.Sprintf("unrecognized configuration parameter %q", name)}
					}
					i = k
					continue
				}
			}
		}
		out = append(out, t)
	}
	return fromListCompat(out), nil
}

// regLookups are the catalog and name column behind each reg* cast.
var regLookups = map[string][2]string{"regclass": {"pg_class", "relname"}, "regtype": {"pg_type", "typname"},
	"regnamespace": {"pg_namespace", "nspname"}}

// sessionStatement answers SET, SHOW, RESET and the transaction commands: the connection's own
// state, which DuckDB never sees.
func (c *pgConn) sessionStatement(kw string, m []sqlToken) (*result, error) {
	switch kw {
	case "begin", "start":
		c.tx = 'T'
		return &result{tag: "BEGIN"}, nil
	case "commit", "end":
		tag := "COMMIT"
		if c.tx == 'E' {
			tag = "ROLLBACK"
		}
		c.tx = 'I'
		return &result{tag: tag}, nil
	case "rollback", "abort":
		c.tx = 'I'
		return &result{tag: "ROLLBACK"}, nil
	case "discard":
		c.stmts = map[string]*prepared{}
		return &result{tag: "DISCARD ALL"}, nil
	case "deallocate":
		if len(m) > 1 {
			name := m[len(m)-1].value()
			if name == "all" {
				c.stmts = map[string]*prepared{}
			} else {
				delete(c.stmts, name)
			}
		}
		return &result{tag: "DEALLOCATE"}, nil
	case "show":
		if len(m) < 2 {
			return nil, &pgError{code: "42601", msg: "SHOW wants a parameter name"}
		}
		name := settingName(m[1:])
		if name == "all" {
			names := make([]string, 0, len(c.params))
			for k := range c.params {
				names = append(names, k)
			}
			sort.Strings(names)
			r := &result{columns: []column{{"name", pgtype.TextOID, -1}, {"setting", pgtype.TextOID, -1}, {"description", pgtype.TextOID, -1}}}
			for _, k := range names {
				r.local = append(r.local, []any{k, c.params[k], ""})
			}
			return r, nil
		}
		v, ok := c.params[name]
		if !ok {
			return nil, &pgError{code: "42704", msg: fmt.Sprintf("unrecognized configuration parameter %q", name)}
		}
		return &result{columns: []column{{name, pgtype.TextOID, -1}}, local: [][]any{{v}}}, nil
	case "reset":
		if len(m) < 2 {
			return nil, &pgError{code: "42601", msg: "RESET wants a parameter name or ALL"}
		}
		defaults := c.srv.defaultParams(c.user)
		name := settingName(m[1:])
		if name == "all" {
			for k, v := range defaults {
				c.params[k] = v
			}
		} else if v, ok := defaults[name]; ok {
			c.params[name] = v
		} else {
			delete(c.params, name)
		}
		return &result{tag: "RESET"}, nil
	}
	// SET [SESSION | LOCAL] name { TO | = } value, SET TIME ZONE value, SET NAMES value.
	rest := m[1:]
	if len(rest) > 0 && (rest[0].is("session") || rest[0].is("local")) {
		rest = rest[1:]
	}
	var name string
	var value []sqlToken
	switch {
	case len(rest) >= 2 && rest[0].is("time") && rest[1].is("zone"):
		name, value = "timezone", rest[2:]
	case len(rest) >= 1 && rest[0].is("names"):
		name, value = "client_encoding", rest[1:]
	case len(rest) >= 1 && (rest[0].is("characteristics") || rest[0].is("transaction") || rest[0].is("session")):
		return &result{tag: "SET"}, nil
	default:
		for i, t := range rest {
			if t.text == "=" || t.is("to") {
				name, value = settingName(rest[:i]), rest[i+1:]
				break
			}
		}
	}
	if name == "" || len(value) == 0 {
		return nil, &pgError{code: "42601", msg: "syntax error in SET: want SET name = value"}
	}
	var parts []string
	for _, t := range value {
		if t.text != "," {
			parts = append(parts, t.value())
		}
	}
	v := strings.Join(parts, ", ")
	if len(value) == 1 && value[0].is("default") {
		v = c.srv.defaultParams(c.user)[name]
	}
	switch name {
	case "client_encoding":
		if e := strings.ToUpper(strings.ReplaceAll(v, "-", "")); e != "UTF8" && e != "UNICODE" {
			return nil, &pgError{code: "22023", msg: fmt.Sprintf("client_encoding %q is not supported: this server speaks UTF8 only", v)}
		}
		v = "UTF8"
	case "statement_timeout":
		ms, err := timeoutMillis(v)
		if err != nil {
			return nil, &pgError{code: "22023", msg: fmt.Sprintf("invalid value for parameter \"statement_timeout\": %q", v)}
		}
		v = strconv.FormatInt(ms, 10)
	case windowParam:
		d, ok := parseInterval(strings.ReplaceAll(v, "d", " day"))
		if dd, err := time.ParseDuration(v); err == nil {
			d, ok = dd, true
		}
		if !ok || d <= 0 {
			return nil, &pgError{code: "22023", msg: fmt.Sprintf("invalid value for %s: %q (want a duration: 24h, 7d, '2 hours')", windowParam, v)}
		}
	}
	c.params[name] = v
	for _, p := range reportedParams {
		if strings.ToLower(p) == name {
			c.be.Send(&pgproto3.ParameterStatus{Name: p, Value: v})
		}
	}
	return &result{tag: "SET"}, nil
}

// settingName reads a parameter name: a word, a quoted name, or dotted parts (lakehouse.window).
func settingName(toks []sqlToken) string {
	var b strings.Builder
	for _, t := range toks {
		if t.text == "=" || t.is("to") {
			break
		}
		b.WriteString(t.value())
	}
	return strings.ToLower(b.String())
}

// timeoutMillis reads a statement_timeout: milliseconds, or a number with a unit.
func timeoutMillis(v string) (int64, error) {
	v = strings.TrimSpace(v)
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return ms, nil
	}
	if d, err := time.ParseDuration(strings.ReplaceAll(v, " ", "")); err == nil {
		return d.Milliseconds(), nil
	}
	if d, ok := parseInterval(v); ok {
		return d.Milliseconds(), nil
	}
	return 0, fmt.Errorf("not a duration: %q", v)
}

// shapeOf describes a prepared statement's result columns without reading the lake: it runs it,
// its parameters NULL, over the empty tables of the shape engine (or the catalog engine).
func (c *pgConn) shapeOf(ctx context.Context, ps *prepared) ([]pgproto3.FieldDescription, error) {
	kw := firstKeyword(ps.toks)
	switch {
	case kw == "show":
		name := settingName(meaningful(ps.toks)[1:])
		return []pgproto3.FieldDescription{{Name: []byte(name), DataTypeOID: pgtype.TextOID, DataTypeSize: -1, TypeModifier: -1}}, nil
	case sessionKeywords[kw] || kw == "":
		return nil, nil
	case !readOnlyKeywords[kw]:
		return nil, &pgError{code: "25006", msg: fmt.Sprintf("cannot execute %s: the lake is read-only over this server", strings.ToUpper(kw))}
	}
	toks, err := bindParameters(ps.toks, make([]*string, len(ps.paramOIDs)))
	if err != nil {
		return nil, &pgError{code: "08P01", msg: err.Error()}
	}
	if toks, err = c.rewrite(toks); err != nil {
		return nil, err
	}
	db := c.srv.catalog.db
	if readsLake(toks) {
		db, toks = c.srv.shape, lakeTimes(dropSchemaQualifiers(toks, "public", "main"))
	}
	query := joinTokens(toks)
	if kw != "describe" && kw != "summarize" && kw != "explain" {
		query = "SELECT * FROM (" + query + "\n) AS _shape LIMIT 0"
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rs, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	cols, err := columnsOf(rs, c.renamed)
	if err != nil {
		return nil, err
	}
	r := &result{columns: cols}
	return r.fieldsIn(nil), nil
}

// openShapeEngine holds the lake's tables, empty, with their DuckDB types, and the macros a
// session defines, so that a statement over them describes as it will run.
func openShapeEngine(ctx context.Context) (*sql.DB, error) {
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	db := sql.OpenDB(connector)
	stmts := []string{`SET TimeZone = 'UTC'`}
	for _, t := range rows.Tables {
		stmts = append(stmts, fmt.Sprintf(`CREATE TABLE %s (%s)`, ident(t.Name), t.DDL()))
	}
	for _, m := range macros {
		stmts = append(stmts, strings.Replace(m, "TEMP MACRO", "MACRO", 1))
	}
	stmts = append(stmts, `SET enable_external_access = false`) // as the catalog engine
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			db.Close()
			return nil, fmt.Errorf("duckdb: shape engine: %w", err)
		}
	}
	return db, nil
}

// duckdbVersion is the embedded DuckDB's version, for version().
func duckdbVersion(ctx context.Context) string {
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return "unknown"
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, `SELECT library_version FROM pragma_version()`).Scan(&v); err != nil {
		return "unknown"
	}
	return v
}

// lakeTimes makes PostgreSQL's timestamptz values comparable with the lake's time columns, which
// are TIMESTAMP_NS instants in UTC: DuckDB refuses to compare the two without a cast, where
// PostgreSQL users write time > now() - interval '1 hour' and time > '…'::timestamptz. With the
// session in UTC, the cast to TIMESTAMP is the same instant.
func lakeTimes(toks []sqlToken) []sqlToken {
	out := make([]sqlToken, 0, len(toks))
	asTimestamp := []sqlToken{{kind: tokOp, text: "::"}, {kind: tokWord, text: "TIMESTAMP"}}
	prev := func() sqlToken { // the last meaningful token out
		for i := len(out) - 1; i >= 0; i-- {
			if out[i].kind != tokSpace {
				return out[i]
			}
		}
		return sqlToken{}
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		out = append(out, t)
		switch {
		case t.is("now") && i+2 < len(toks) && toks[i+1].text == "(" && toks[i+2].text == ")":
			out = append(out, toks[i+1], toks[i+2])
			out = append(out, asTimestamp...)
			i += 2
		case t.is("current_timestamp") || (t.is("timestamptz") && len(out) >= 2 && out[len(out)-2].text == "::"):
			out = append(out, asTimestamp...)
		case t.kind == tokString && len(out) >= 2:
			out = out[:len(out)-1]
			if p := prev(); p.is("timestamptz") {
				out = append(out, t)
				out = append(out, asTimestamp...)
			} else {
				out = append(out, t)
			}
		}
	}
	return out
}

// clauseKeywords end the FROM list that a table alias may follow.
var clauseKeywords = map[string]bool{"where": true, "join": true, "left": true, "right": true, "inner": true,
	"outer": true, "full": true, "cross": true, "natural": true, "on": true, "using": true, "group": true,
	"order": true, "limit": true, "offset": true, "union": true, "intersect": true, "except": true,
	"having": true, "window": true, "qualify": true, "as": true, "fetch": true, "for": true}

// emptyCatalogTables are PostgreSQL catalogs that DuckDB lacks and clients query (Grafana asks
// pg_extension whether TimescaleDB is there): each reads as an empty relation with their columns.
var emptyCatalogTables = map[string]string{
	"pg_extension": `SELECT NULL::INTEGER AS oid, NULL::VARCHAR AS extname, NULL::INTEGER AS extowner, NULL::INTEGER AS extnamespace,
		NULL::BOOLEAN AS extrelocatable, NULL::VARCHAR AS extversion WHERE false`,
}

// pgDataTypes are PostgreSQL's names (information_schema.columns' data_type and udt_name) of the
// types the catalog engine declares the lake's columns with (catalogTypes): Grafana's builder
// looks for udt_name timestamptz and float8 to pick a time and a value column.
const pgColumnsSQL = `SELECT * REPLACE (
	CASE upper(data_type) WHEN 'TIMESTAMP WITH TIME ZONE' THEN 'timestamp with time zone' WHEN 'BIGINT' THEN 'bigint'
		WHEN 'INTEGER' THEN 'integer' WHEN 'SMALLINT' THEN 'smallint' WHEN 'DOUBLE' THEN 'double precision'
		WHEN 'FLOAT' THEN 'real' WHEN 'VARCHAR' THEN 'text' WHEN 'BOOLEAN' THEN 'boolean' WHEN 'JSON' THEN 'json'
		WHEN 'BLOB' THEN 'bytea' WHEN 'DATE' THEN 'date' WHEN 'INTERVAL' THEN 'interval' WHEN 'UUID' THEN 'uuid'
		ELSE CASE WHEN upper(data_type) LIKE 'DECIMAL%' THEN 'numeric' ELSE lower(data_type) END END AS data_type,
	CASE upper(data_type) WHEN 'TIMESTAMP WITH TIME ZONE' THEN 'timestamptz' WHEN 'BIGINT' THEN 'int8'
		WHEN 'INTEGER' THEN 'int4' WHEN 'SMALLINT' THEN 'int2' WHEN 'DOUBLE' THEN 'float8' WHEN 'FLOAT' THEN 'float4'
		WHEN 'VARCHAR' THEN 'text' WHEN 'BOOLEAN' THEN 'bool' WHEN 'JSON' THEN 'json' WHEN 'BLOB' THEN 'bytea'
		WHEN 'DATE' THEN 'date' WHEN 'INTERVAL' THEN 'interval' WHEN 'UUID' THEN 'uuid'
		ELSE CASE WHEN upper(data_type) LIKE 'DECIMAL%' THEN 'numeric' ELSE lower(data_type) END END AS udt_name)
	FROM information_schema.columns`

// fromListCompat rewrites three things of PostgreSQL FROM lists for DuckDB. A set-returning
// function with a bare alias, generate_series(…) AS i, names its column i in PostgreSQL, where
// DuckDB makes i the whole row: the alias gets its column list, AS i(i). A catalog DuckDB
// lacks becomes an empty relation of its columns. And information_schema.columns names its
// types as PostgreSQL does (pgColumnsSQL). Grafana's pickers need all three.
func fromListCompat(toks []sqlToken) []sqlToken {
	out := make([]sqlToken, 0, len(toks))
	clause := []string{""} // the clause keyword in force at each parenthesis depth
	next := func(i int) int {
		for j := i + 1; j < len(toks); j++ {
			if toks[j].kind != tokSpace {
				return j
			}
		}
		return len(toks)
	}
	inFrom := func() bool { c := clause[len(clause)-1]; return c == "from" || c == "join" }
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.kind == tokOp && t.text == "(":
			clause = append(clause, "")
		case t.kind == tokOp && t.text == ")":
			if len(clause) > 1 {
				clause = clause[:len(clause)-1]
			}
		case t.is("from") || t.is("join") || t.is("where") || t.is("select") || t.is("group") || t.is("order") || t.is("on") || t.is("having"):
			clause[len(clause)-1] = t.value()
		}
		if inFrom() && t.is("information_schema") && next(i) < len(toks) && toks[next(i)].text == "." &&
			next(next(i)) < len(toks) && toks[next(next(i))].value() == "columns" {
			out = append(out, sqlToken{kind: tokOp, text: "("}, sqlToken{kind: tokWord, text: pgColumnsSQL}, sqlToken{kind: tokOp, text: ")"})
			i = next(next(i))
			if j := next(i); j == len(toks) || toks[j].kind != tokWord || clauseKeywords[toks[j].value()] {
				out = append(out, sqlToken{kind: tokSpace, text: " "}, sqlToken{kind: tokWord, text: "AS columns"})
			}
			continue
		}
		if inFrom() && t.kind == tokWord && emptyCatalogTables[t.value()] != "" && (next(i) == len(toks) || toks[next(i)].text != "(") {
			out = append(out, sqlToken{kind: tokOp, text: "("}, sqlToken{kind: tokWord, text: emptyCatalogTables[t.value()]}, sqlToken{kind: tokOp, text: ")"})
			if j := next(i); j == len(toks) || toks[j].kind != tokWord || clauseKeywords[toks[j].value()] {
				out = append(out, sqlToken{kind: tokSpace, text: " "}, sqlToken{kind: tokWord, text: "AS " + t.text})
			}
			continue
		}
		out = append(out, t)
		if !inFrom() || !(t.is("generate_series") || t.is("unnest")) || !(next(i) < len(toks) && toks[next(i)].text == "(") {
			continue
		}
		// Copy through the call's closing parenthesis, then look at the alias.
		depth := 0
		j := next(i)
		for ; j < len(toks); j++ {
			out = append(out, toks[j])
			if toks[j].text == "(" {
				depth++
			} else if toks[j].text == ")" {
				if depth--; depth == 0 {
					break
				}
			}
		}
		i = j
		k := next(i)
		if k < len(toks) && toks[k].is("as") {
			k = next(k)
		}
		if k < len(toks) && (toks[k].kind == tokWord || toks[k].kind == tokQuoted) && !clauseKeywords[toks[k].value()] &&
			(next(k) == len(toks) || toks[next(k)].text != "(") {
			for i < k {
				i++
				out = append(out, toks[i])
			}
			out = append(out, sqlToken{kind: tokOp, text: "("}, toks[k], sqlToken{kind: tokOp, text: ")"})
		}
	}
	return out
}
