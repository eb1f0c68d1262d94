//go:build cgo

package lakehouse

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/telemetrylake/telemetrylake/lakehouse/parts"
	"github.com/telemetrylake/telemetrylake/lakehouse/rows"
)

// DefaultServeWindow is how far back a served statement reads when its own predicates bound
// neither end: the same default as `lakehouse sql --since` (docs/contracts/lakehouse.md §6).
const DefaultServeWindow = 24 * time.Hour

// windowBounds is what a statement's predicates on the time columns say; a nil end is unbounded.
type windowBounds struct {
	since, until *time.Time // until is exclusive
	// widened is set when the statement has a UNION, INTERSECT or EXCEPT: a bound of one query
	// would narrow the others, so the server reads the default window instead.
	widened bool
}

// timeColumnNames are the columns a served window is taken from: each table's rows.Table
// TimeColumn.
var timeColumnNames = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range rows.Tables {
		if t.TimeColumn != "" {
			m[t.TimeColumn] = true
		}
	}
	return m
}()

// statementBounds finds the predicates on time/start_time that compare them with a constant:
// `c BETWEEN a AND b` (Grafana's $__timeFilter), `c >= a`, `c > a`, `c <= b`, `c < b`, `c = a`.
// A constant is a string literal, optionally typed (TIMESTAMPTZ '…', '…'::timestamptz),
// to_timestamp(N), or now() / current_timestamp minus an interval. Only a predicate that filters
// every row of its query counts (binds): one in a WHERE clause, joined to it by AND alone, not
// under an OR, a NOT, a CASE or a FILTER. Several bounds on one end widen to the widest, so that
// a bound in a subquery never narrows the rest.
func statementBounds(toks []sqlToken, now time.Time) windowBounds {
	m := meaningful(toks)
	var b windowBounds
	lower := func(t time.Time) {
		if b.since == nil || t.Before(*b.since) {
			b.since = &t
		}
	}
	upper := func(t time.Time, inclusive bool) {
		if inclusive {
			t = t.Add(time.Nanosecond)
		}
		if b.until == nil || t.After(*b.until) {
			b.until = &t
		}
	}
	for i := 0; i < len(m); i++ {
		if m[i].is("union") || m[i].is("intersect") || m[i].is("except") {
			b.widened = true
		}
		if !(m[i].kind == tokWord || m[i].kind == tokQuoted) || !timeColumnNames[m[i].value()] {
			continue
		}
		if i+1 >= len(m) || (i > 0 && m[i-1].kind == tokOp && m[i-1].text == "(" && i+1 < len(m) && m[i+1].text == ")") {
			continue
		}
		start := i // the predicate's first token: the column, or its qualifier
		if i >= 2 && m[i-1].text == "." {
			start = i - 2
		}
		op := m[i+1]
		switch {
		case op.is("between"):
			lo, j, ok := timeConstant(m, i+2, now)
			if !ok || j >= len(m) || !m[j].is("and") {
				continue
			}
			hi, end, ok := timeConstant(m, j+1, now)
			if !ok || !binds(m, start, end) {
				continue
			}
			lower(lo)
			upper(hi, true)
		case op.kind == tokOp && (op.text == ">=" || op.text == ">" || op.text == "<=" || op.text == "<" || op.text == "="):
			t, end, ok := timeConstant(m, i+2, now)
			if !ok || !binds(m, start, end) {
				continue
			}
			switch op.text {
			case ">=", ">":
				lower(t)
			case "<":
				upper(t, false)
			case "<=":
				upper(t, true)
			case "=":
				lower(t)
				upper(t, true)
			}
		}
	}
	return b
}

// binds says whether the predicate m[start:end] filters every row of its query: it sits in a
// WHERE clause, joined to the rest by AND alone (an OR beside it at its level or any enclosing
// one lets other rows through), and under no NOT, CASE or FILTER.
func binds(m []sqlToken, start, end int) bool {
	depth := 0 // of groups opened between here and the predicate
	for j := start - 1; j >= 0; j-- {
		t := m[j]
		switch {
		case t.text == ")":
			depth++
		case t.text == "(":
			if depth > 0 {
				depth--
			} else if j > 0 && (m[j-1].is("not") || m[j-1].is("filter")) {
				return false // NOT ( … predicate … ), or FILTER (WHERE predicate)
			}
		case depth > 0:
		case t.is("not") && j == start-1:
			return false
		case t.is("or") || t.is("case") || t.is("when") || t.is("then") || t.is("else"):
			return false
		case t.is("where"):
			return !(j >= 2 && m[j-1].text == "(" && m[j-2].is("filter")) && orFreeAfter(m, end)
		case t.is("select") || t.is("from") || t.is("on") || t.is("join") || t.is("having") || t.is("group") || t.is("order"):
			return false
		}
	}
	return false
}

// orFreeAfter says whether no OR follows m[end:] at the predicate's level or an enclosing one.
func orFreeAfter(m []sqlToken, end int) bool {
	depth := 0
	for j := end; j < len(m); j++ {
		switch t := m[j]; {
		case t.text == "(":
			depth++
		case t.text == ")":
			if depth > 0 {
				depth--
			}
		case depth == 0 && t.is("or"):
			return false
		}
	}
	return true
}

// window turns the bounds into the window a session reads; defaultWindow applies to an end the
// statement leaves open.
func (b windowBounds) window(now time.Time, defaultWindow time.Duration) parts.Window {
	if b.widened {
		return parts.Window{Since: now.Add(-defaultWindow), Until: now}
	}
	w := parts.Window{Since: now.Add(-defaultWindow), Until: now}
	switch {
	case b.since != nil && b.until != nil:
		w = parts.Window{Since: *b.since, Until: *b.until}
	case b.since != nil:
		w = parts.Window{Since: *b.since, Until: now}
	case b.until != nil:
		w = parts.Window{Since: b.until.Add(-defaultWindow), Until: *b.until}
	}
	if !w.Since.Before(w.Until) {
		w.Until = w.Since // empty: nothing is listed, nothing is read
	}
	return w
}

// timeConstant reads a time constant at m[i]; it returns the time and the index after it.
func timeConstant(m []sqlToken, i int, now time.Time) (time.Time, int, bool) {
	if i >= len(m) {
		return time.Time{}, i, false
	}
	// now(), current_timestamp, optionally minus or plus an interval.
	if m[i].is("now") || m[i].is("current_timestamp") {
		j := i + 1
		if m[i].is("now") {
			if j+1 >= len(m) || m[j].text != "(" || m[j+1].text != ")" {
				return time.Time{}, i, false
			}
			j += 2
		}
		t := now
		if j < len(m) && (m[j].text == "-" || m[j].text == "+") {
			d, k, ok := intervalConstant(m, j+1)
			if !ok {
				return time.Time{}, i, false
			}
			if m[j].text == "-" {
				d = -d
			}
			t, j = t.Add(d), k
		}
		return t, j, true
	}
	// to_timestamp(seconds)
	if m[i].is("to_timestamp") && i+3 < len(m) && m[i+1].text == "(" && m[i+2].kind == tokNumber && m[i+3].text == ")" {
		f, err := strconv.ParseFloat(m[i+2].text, 64)
		if err != nil {
			return time.Time{}, i, false
		}
		return time.Unix(0, int64(f*1e9)).UTC(), i + 4, true
	}
	// TIMESTAMP '…', TIMESTAMPTZ '…', TIMESTAMP WITH TIME ZONE '…'
	j := i
	for j < len(m) && (m[j].is("timestamp") || m[j].is("timestamptz") || m[j].is("timestamp_ns") ||
		m[j].is("with") || m[j].is("without") || m[j].is("time") || m[j].is("zone")) {
		j++
	}
	if j >= len(m) || m[j].kind != tokString {
		return time.Time{}, i, false
	}
	t, ok := parseTimeLiteral(m[j].value())
	if !ok {
		return time.Time{}, i, false
	}
	j++
	// '…'::timestamptz
	for j+1 < len(m) && m[j].text == "::" && m[j+1].kind == tokWord {
		j += 2
		for j < len(m) && (m[j].is("with") || m[j].is("without") || m[j].is("time") || m[j].is("zone")) {
			j++
		}
	}
	return t, j, true
}

// intervalConstant reads INTERVAL '1 hour', INTERVAL '1' HOUR, or '1 hour'::interval.
func intervalConstant(m []sqlToken, i int) (time.Duration, int, bool) {
	if i < len(m) && m[i].is("interval") {
		i++
	}
	if i >= len(m) || m[i].kind != tokString {
		return 0, i, false
	}
	text := m[i].value()
	i++
	if i < len(m) && m[i].kind == tokWord && intervalUnit(m[i].value()) > 0 {
		text += " " + m[i].value()
		i++
	}
	if i+1 < len(m) && m[i].text == "::" && m[i+1].is("interval") {
		i += 2
	}
	d, ok := parseInterval(text)
	return d, i, ok
}

// parseInterval reads "N unit [N unit…]" and Go durations ("90m").
func parseInterval(s string) (time.Duration, bool) {
	if d, err := time.ParseDuration(strings.TrimSpace(s)); err == nil {
		return d, true
	}
	f := strings.Fields(s)
	if len(f) == 0 || len(f)%2 != 0 {
		return 0, false
	}
	var total time.Duration
	for k := 0; k < len(f); k += 2 {
		n, err := strconv.ParseFloat(f[k], 64)
		unit := intervalUnit(f[k+1])
		if err != nil || unit == 0 {
			return 0, false
		}
		total += time.Duration(n * float64(unit))
	}
	return total, true
}

func intervalUnit(u string) time.Duration {
	switch strings.TrimSuffix(strings.ToLower(u), "s") {
	case "second", "sec":
		return time.Second
	case "minute", "min":
		return time.Minute
	case "hour", "h":
		return time.Hour
	case "day", "d":
		return 24 * time.Hour
	case "week", "w":
		return 7 * 24 * time.Hour
	}
	return 0
}

// timeLiteralLayouts are the forms a timestamp literal takes in what clients send: Grafana's
// RFC 3339, psql users' "2026-01-02 15:04:05", with or without fraction and zone, and dates.
var timeLiteralLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999-07:00:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02",
}

// parseTimeLiteral reads a timestamp literal; one without a zone is UTC, as the server's
// TimeZone is.
func parseTimeLiteral(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimSuffix(s, " UTC"), "+00")
	for _, l := range timeLiteralLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// lakeTableNames are the views a session defines.
var lakeTableNames = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range rows.Tables {
		m[t.Name] = true
	}
	return m
}()

// readsLake says whether a statement names one of the lake's tables, and so needs a session
// over the store; a statement that does not (SELECT 1, version(), the catalogs) is answered
// without reading the store.
func readsLake(toks []sqlToken) bool {
	for _, t := range toks {
		if (t.kind == tokWord || t.kind == tokQuoted) && lakeTableNames[t.value()] {
			return true
		}
	}
	return false
}

// dropSchemaQualifiers removes the `public.` (or `main.`) that clients put before the lake's
// tables: in PostgreSQL they live in the public schema, in a session they are temp views.
func dropSchemaQualifiers(toks []sqlToken, schemas ...string) []sqlToken {
	out := make([]sqlToken, 0, len(toks))
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if (t.kind == tokWord || t.kind == tokQuoted) && i+1 < len(toks) && toks[i+1].kind == tokOp && toks[i+1].text == "." {
			for _, s := range schemas {
				if t.value() == s {
					i++ // the dot
					goto next
				}
			}
		}
		out = append(out, t)
	next:
	}
	return out
}

// bindParameters puts the values of $1, $2, … into the statement as literals. DuckDB casts a
// string literal to whatever type its place asks for, as PostgreSQL does an untyped parameter;
// the window is read from the statement with the values in place.
func bindParameters(toks []sqlToken, params []*string) ([]sqlToken, error) {
	out := make([]sqlToken, len(toks))
	for i, t := range toks {
		out[i] = t
		if t.kind != tokParam {
			continue
		}
		n, err := strconv.Atoi(t.text[1:])
		if err != nil || n < 1 || n > len(params) {
			return nil, fmt.Errorf("there is no parameter %s (the statement was given %d)", t.text, len(params))
		}
		if params[n-1] == nil {
			out[i] = sqlToken{kind: tokWord, text: "NULL"}
		} else {
			out[i] = sqlToken{kind: tokString, text: quote(*params[n-1])}
		}
	}
	return out, nil
}

// countParameters is the highest $N in a statement.
func countParameters(toks []sqlToken) int {
	n := 0
	for _, t := range toks {
		if t.kind == tokParam {
			if k, err := strconv.Atoi(t.text[1:]); err == nil && k > n {
				n = k
			}
		}
	}
	return n
}
