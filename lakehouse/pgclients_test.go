//go:build cgo

package lakehouse

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The real clients of acceptance 1, each against a server over a lake the OTel SDK filled through
// the ingester. They come from Debian (psql, python3-psycopg2) and npm (pg); `make test-deps`
// installs them, and a missing one fails the test with the command that installs it.

func TestServeAnswersPsql(t *testing.T) {
	psql := lookPath(t, "psql", "apt-get install postgresql-client")
	l := startLake(t)
	sendClaudeCodeTelemetry(t, l)
	s := startServe(t, l, nil)
	run := func(args ...string) string {
		t.Helper()
		host, port, _ := net.SplitHostPort(s.Addr)
		cmd := exec.Command(psql, append([]string{"-X", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", port, "-U", "grafana", "-d", "lake"}, args...)...)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+s.QueryToken, "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=10")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("psql %q: %v\n%s", args, err, out)
		}
		return string(out)
	}
	csvRows := func(sql string) [][]string {
		t.Helper()
		rows, err := csv.NewReader(strings.NewReader(run("--csv", "-c", sql))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	costs := csvRows(`SELECT attributes['model'] AS model, sum(value) AS usd FROM measures WHERE name = 'claude_code.cost.usage' GROUP BY 1 ORDER BY 1`)
	if want := [][]string{{"model", "usd"}, {"claude-haiku", "0.125"}, {"claude-opus", "1.75"}}; !reflect.DeepEqual(costs, want) {
		t.Errorf("psql cost by model = %v, want %v", costs, want)
	}
	tools := csvRows(`SELECT attributes['tool_name'] AS tool, count(*) AS calls, avg(duration_ns) / 1e6 AS avg_ms FROM otel_spans WHERE name = 'claude_code.tool' GROUP BY 1 ORDER BY 1`)
	if want := [][]string{{"tool", "calls", "avg_ms"}, {"Bash", "2", "200"}, {"Read", "1", "10"}}; !reflect.DeepEqual(tools, want) {
		t.Errorf("psql tools = %v, want %v", tools, want)
	}
	// A timestamptz prints with its zone, a map as JSON.
	row := csvRows(`SELECT time, attributes FROM log_entries WHERE attributes['status_code'] = '529'`)
	if len(row) != 2 || !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+00$`).MatchString(row[1][0]) ||
		!strings.Contains(row[1][1], `"error":"Overloaded"`) {
		t.Errorf("psql log row = %v, want a timestamptz and JSON attributes", row)
	}
	for _, meta := range []string{`\d`, `\dt`} {
		out := run("-c", meta)
		for _, table := range []string{"log_entries", "measures", "otel_spans", "processes"} {
			if !strings.Contains(out, table) {
				t.Errorf("psql %s does not list %s:\n%s", meta, table, out)
			}
		}
		t.Logf("psql %s:\n%s", meta, out)
	}
	if out := run("-c", "SHOW server_version"); !strings.Contains(out, "16.0") {
		t.Errorf("SHOW server_version:\n%s", out)
	}
}

func TestServeAnswersPsycopg2(t *testing.T) {
	// Debian's python3: the one python3-psycopg2 installs into (a pyenv python3 on PATH has none).
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import psycopg2").Run(); err != nil {
		t.Fatalf("%s cannot import psycopg2 (%v): apt-get install python3-psycopg2 (make test-deps)", python, err)
	}
	l := startLake(t)
	sendClaudeCodeTelemetry(t, l)
	s := startServe(t, l, nil)
	host, port, _ := net.SplitHostPort(s.Addr)
	dsn := fmt.Sprintf("host=%s port=%s user=analyst dbname=lake password=%s sslmode=disable", host, port, s.QueryToken)
	out := runClient(t, exec.Command(python, filepath.Join("testdata", "pgclients", "client.py"), dsn))
	want := map[string]any{
		"costs":            []any{[]any{"claude-haiku", 0.125}, []any{"claude-opus", 1.75}},
		"timeIsAware":      true,
		"attributesIsDict": true,
		"error":            "Overloaded",
		"tools":            []any{[]any{"Bash", 2.0, 200.0}, []any{"Read", 1.0, 10.0}},
		"syntaxError":      "42601",
		"afterError":       1.0,
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("psycopg2 printed %v\nwant %v", out, want)
	}
}

func TestServeAnswersNodePostgres(t *testing.T) {
	node := lookPath(t, "node", "apt-get install nodejs npm")
	npm := lookPath(t, "npm", "apt-get install npm")
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "client.js"} {
		b, err := os.ReadFile(filepath.Join("testdata", "pgclients", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	install := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci (node-postgres, pinned in testdata/pgclients/package-lock.json): %v\n%s", err, out)
	}
	l := startLake(t)
	sendClaudeCodeTelemetry(t, l)
	s := startServe(t, l, nil)
	host, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command(node, "client.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PGHOST="+host, "PGPORT="+port, "PGUSER=dashboards", "PGDATABASE=lake",
		"PGPASSWORD="+s.QueryToken, "PGSSLMODE=disable")
	out := runClient(t, cmd)
	if age, _ := out["ageSeconds"].(float64); age < 0 || age > 3600 {
		t.Errorf("the log's time is %v s old", out["ageSeconds"])
	}
	delete(out, "ageSeconds")
	want := map[string]any{
		"costs":              []any{map[string]any{"model": "claude-haiku", "usd": 0.125}, map[string]any{"model": "claude-opus", "usd": 1.75}},
		"timeIsDate":         true,
		"attributesIsObject": true,
		"error":              "Overloaded",
		"version":            out["version"],
		"unknownTable":       "42P01",
		// node-postgres gives a bigint as a string, to lose no digit.
		"tools": []any{map[string]any{"tool": "Bash", "calls": "2"}, map[string]any{"tool": "Read", "calls": "1"}},
	}
	if v, _ := out["version"].(string); !strings.HasPrefix(v, "PostgreSQL 16") {
		t.Errorf("version() = %q", v)
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("node-postgres printed %v\nwant %v", out, want)
	}
}

// TestGrafanaDashboardPanelsAnswer runs every panel of the shipped Claude Code dashboard as
// Grafana does: its rawSql with the macros expanded for the dashboard's time range, through pgx.
func TestGrafanaDashboardPanelsAnswer(t *testing.T) {
	l := startLake(t)
	sendClaudeCodeTelemetry(t, l)
	s := startServe(t, l, nil)
	conn := s.connect(t, s.QueryToken)
	panels := dashboardPanels(t)
	today := time.Now().UTC().Truncate(24 * time.Hour).Format("2006-01-02 15:04:05")
	want := map[string][][]string{
		"Cost by model and day":    {{today, "claude-haiku", "0.125"}, {today, "claude-opus", "1.75"}},
		"Cost per hour":            {{time.Now().UTC().Truncate(time.Hour).Format("2006-01-02 15:04:05"), "1.875"}},
		"Tokens by type":           {{"cacheRead", "300"}, {"input", "150"}, {"output", "20"}},
		"Tool calls and durations": {{"Bash", "2", "200", "300"}, {"Read", "1", "10", "10"}},
		"API errors":               {{"500", "Internal server error", "claude-opus", "1"}, {"529", "Overloaded", "claude-opus", "1"}},
		"Active time per day":      {{today, fmt.Sprint(42.5 / 3600)}},
	}
	if len(panels) != len(want) {
		t.Errorf("the dashboard has %d panels, the test expects %d: a panel added must be checked here", len(panels), len(want))
	}
	from, to := time.Now().Add(-7*24*time.Hour), time.Now().Add(time.Minute) // the dashboard's now-7d .. now
	for title, sql := range panels {
		t.Run(title, func(t *testing.T) {
			expanded := expandGrafanaMacros(sql, from, to)
			rows, err := conn.Query(context.Background(), expanded)
			if err != nil {
				t.Fatalf("%s: %v", expanded, err)
			}
			var got [][]string
			for rows.Next() {
				vals, _ := rows.Values()
				line := make([]string, len(vals))
				for i, v := range vals {
					switch x := v.(type) {
					case time.Time:
						line[i] = x.UTC().Format("2006-01-02 15:04:05")
					default:
						line[i] = fmt.Sprint(x)
					}
				}
				got = append(got, line)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want[title]) {
				t.Errorf("panel %q:\n%s\nanswered %v\nwant     %v", title, expanded, got, want[title])
			}
			if f := rows.FieldDescriptions(); len(f) > 0 && string(f[0].Name) == "time" && f[0].DataTypeOID != 1184 {
				t.Errorf("the time column is oid %d, not timestamptz: Grafana would not plot it", f[0].DataTypeOID)
			}
		})
	}
}

// dashboardPanels reads docs/grafana/claude-code.json: each panel's title and SQL.
func dashboardPanels(t *testing.T) map[string]string {
	raw, err := os.ReadFile(filepath.Join("..", "docs", "grafana", "claude-code.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ RawSQL string }
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range d.Panels {
		if len(p.Targets) != 1 || p.Targets[0].RawSQL == "" {
			t.Errorf("panel %q has %d targets; each panel has one rawSql", p.Title, len(p.Targets))
			continue
		}
		out[p.Title] = p.Targets[0].RawSQL
	}
	return out
}

var timeFilterMacro = regexp.MustCompile(`\$__timeFilter\(([^)]+)\)`)

// expandGrafanaMacros does what Grafana's PostgreSQL data source does to the macros the
// dashboard uses: $__timeFilter(c) is c BETWEEN 'from' AND 'to', in RFC 3339.
func expandGrafanaMacros(sql string, from, to time.Time) string {
	f, u := from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339)
	sql = timeFilterMacro.ReplaceAllString(sql, "$1 BETWEEN '"+f+"' AND '"+u+"'")
	sql = strings.ReplaceAll(sql, "$__timeFrom()", "'"+f+"'")
	return strings.ReplaceAll(sql, "$__timeTo()", "'"+u+"'")
}

func lookPath(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: %s (make test-deps installs every client the tests run)", name, install)
	}
	return p
}

// runClient runs a client script and decodes the one JSON object it prints.
func runClient(t *testing.T, cmd *exec.Cmd) map[string]any {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s%s", cmd, err, stdout.String(), stderr.String())
	}
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%s printed no JSON object: %v\n%s", cmd, err, stdout.String())
	}
	return out
}
