//go:build cgo

package lakehouse

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/lakehouse/parts"
)

// TestDuckDBReadsTheCompactedTablesAsLakehouseSQLDoes is acceptance 5: once its parts are
// compacted, tables/ is a plain Hive-partitioned Parquet lake, and DuckDB's own read_parquet over
// it, with no lakehouse code in between, answers as `lakehouse sql` does.
// It pins docs/contracts/lakehouse.md §2, other engines.
func TestDuckDBReadsTheCompactedTablesAsLakehouseSQLDoes(t *testing.T) {
	l := startLake(t)
	ctx := context.Background()
	root := strings.TrimPrefix(l.Storage, "file://")
	since, until := time.Now().UTC().Add(-12*time.Hour).Truncate(time.Hour), time.Now().UTC().Add(time.Hour).Truncate(time.Hour)
	w := parts.Window{Since: since, Until: until}
	window := []string{"--since", since.Format(time.RFC3339), "--until", until.Format(time.RFC3339)}

	// Every signal, through the SDK, and logs of a few services over past hours.
	sendSDKTelemetry(t, l, 20)
	for h := range 4 {
		for _, svc := range []string{"checkout", "cart"} {
			post(t, l.URL+"/v1/logs", logsRequest(t, svc, since.Add(time.Duration(2+h)*time.Hour+10*time.Minute), 5+h))
		}
	}
	if r := l.lakehouse(t, append([]string{"materialize"}, window...)...); r.code != 0 {
		t.Fatalf("materialize: %s", r.stderr)
	}
	// Late blocks: the first materialized by a run that listed no parts, as if it had raced the
	// first run, into parts that overlap the first run's; the second into parts of their own.
	late := func(minute time.Duration) {
		for h := range 4 {
			post(t, l.URL+"/v1/logs", logsRequest(t, "late", since.Add(time.Duration(2+h)*time.Hour+minute*time.Minute), 2))
		}
	}
	late(20)
	if _, err := Materialize(ctx, MaterializeOptions{Store: &noParts{l.Store}, Window: w, CacheDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	late(30)
	if r := l.lakehouse(t, append([]string{"materialize"}, window...)...); r.code != 0 {
		t.Fatalf("materialize: %s", r.stderr)
	}

	duck, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer duck.Close()
	direct := func(t *testing.T, query, table string) []map[string]any {
		t.Helper()
		glob := filepath.Join(root, layout.TablesPrefix, table, "**", "*"+layout.PartSuffix)
		return queryJSON(t, duck, fmt.Sprintf(query, fmt.Sprintf("read_parquet(%s, hive_partitioning = true)", quote(glob))))
	}
	const logCount = `SELECT count(*) AS n, count(DISTINCT block_id) AS blocks FROM %s`
	want := l.query(t, fmt.Sprintf(logCount, "log_entries"), window...)

	t.Run("before compaction, overlapping parts count twice for an engine that cannot choose", func(t *testing.T) {
		if got := direct(t, logCount, "log_entries"); reflect.DeepEqual(got, want) {
			t.Errorf("read_parquet over overlapping parts = %v, the same as lakehouse sql: the test lost its overlap", got)
		}
	})

	r := l.lakehouse(t, append([]string{"compact"}, window...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "compacted  8 table hours: 8 parts written") {
		t.Fatalf("compact exited %d; want the 4 hours of log_entries and processes merged:\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, table := range []string{"log_entries", "processes"} {
		for dir, n := range partsPerHour(t, l, table) {
			if n != 1 {
				t.Errorf("%s has %d parts after compacting, want 1", dir, n)
			}
		}
	}

	cases := []struct {
		name, table, query string
	}{
		{"row and block counts", "log_entries", logCount},
		{"logs by service", "log_entries", `SELECT service_name, count(*) AS n, count(DISTINCT body) AS bodies, min(time) AS first FROM %s GROUP BY 1 ORDER BY 1`},
		{"measures summed by name", "measures", `SELECT name, kind, count(*) AS points, round(sum(value), 9) AS value,
			sum("count")::BIGINT AS count, round(sum("sum"), 9) AS sum, sum(len(bucket_counts)) AS buckets FROM %s GROUP BY ALL ORDER BY ALL`},
		{"spans by name", "otel_spans", `SELECT name, kind, status_code, count(*) AS n, sum(duration_ns) AS total_ns, sum(len(events)) AS events FROM %s GROUP BY ALL ORDER BY ALL`},
		// Each hour's processes part holds the processes seen that hour: one row per process and
		// hour on disk, which the lakehouse's view (and DISTINCT here) makes one per process.
		{"processes", "processes", `SELECT DISTINCT process_id, service_name, host_name FROM %s ORDER BY ALL`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := l.query(t, fmt.Sprintf(c.query, c.table), window...)
			got := direct(t, c.query, c.table)
			if len(want) == 0 {
				t.Fatalf("lakehouse sql returned no rows for %s", c.name)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("read_parquet:\n%v\nlakehouse sql:\n%v", got, want)
			}
		})
	}
}

// noParts is a real store seen by a materialization that listed no parts yet.
type noParts struct{ store.Store }

func (s *noParts) List(ctx context.Context, prefix string, fn func(key string) error) error {
	if strings.HasPrefix(prefix, layout.TablesPrefix+"/") {
		return nil
	}
	return s.Store.List(ctx, prefix, fn)
}

// queryJSON runs a query on a plain DuckDB connection and returns its rows as `lakehouse sql
// --format json` would print them, so that the two compare as values.
func queryJSON(t *testing.T, db *sql.DB, query string) []map[string]any {
	t.Helper()
	rs, err := db.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rs.Close()
	var out strings.Builder
	if err := writeResult(&out, rs, FormatJSON); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out.String()), &rows); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	return rows
}
