//go:build cgo

package lakehouse

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/lakehouse/parts"
)

// BenchmarkServeGrafanaQuery measures the query a Grafana time-series panel sends (rows per hour
// over 24 h, with $__timeFilter's BETWEEN) three ways side by side over the same materialized
// parts: through `lakehouse serve` with pgx (one connection kept, as Grafana's pool does), as
// `lakehouse sql` runs it (Open over the window, then Query, in process), and DuckDB alone over
// read_parquet of the parts. Runs interleave; medians and their ratios are reported (issue 15's
// target: the server within 1.2× of lakehouse sql). Then 8 clients run the query at once, each
// on its own connection, and the p50 and p99 of their latencies are reported. Rows: 2.4 M (100 k
// an hour), or LAKEHOUSE_SERVE_BENCH_ROWS.
//
//	CGO_ENABLED=1 go test -tags duckdb_arrow -run '^$' -bench ServeGrafanaQuery -benchtime 1x .   (in lakehouse/)
func BenchmarkServeGrafanaQuery(b *testing.B) {
	const (
		hours    = 24
		perBlock = 10_000
		runs     = 7
		clients  = 8
		rounds   = 5 // queries per client
	)
	rowsTotal := 2_400_000
	if v := os.Getenv("LAKEHOUSE_SERVE_BENCH_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < hours*perBlock {
			b.Fatalf("LAKEHOUSE_SERVE_BENCH_ROWS=%q: want at least %d", v, hours*perBlock)
		}
		rowsTotal = n
	}
	blocksPerHour := rowsTotal / hours / perBlock
	ctx := context.Background()
	for range b.N {
		root := b.TempDir()
		st, err := store.Open(ctx, "file://"+root)
		if err != nil {
			b.Fatal(err)
		}
		first := time.Now().UTC().Add(-(hours + 1) * time.Hour).Truncate(time.Hour)
		w := parts.Window{Since: first, Until: first.Add(hours * time.Hour)}
		for h := range hours {
			benchLogBlocks(b, st, first.Add(time.Duration(h)*time.Hour), blocksPerHour, perBlock, benchShape{})
		}
		if _, err := Materialize(ctx, MaterializeOptions{Store: st, Window: w, CacheDir: b.TempDir()}); err != nil {
			b.Fatal(err)
		}
		grafana := fmt.Sprintf(`SELECT date_trunc('hour', time) AS time, count(*) AS n FROM %%s
			WHERE time BETWEEN '%s' AND '%s' GROUP BY 1 ORDER BY 1`,
			w.Since.Format(time.RFC3339), w.Until.Add(-time.Nanosecond).Format(time.RFC3339Nano))
		want := map[int64]int64{}
		for h := range hours {
			want[first.Add(time.Duration(h)*time.Hour).Unix()] = int64(blocksPerHour * perBlock)
		}

		l := &lake{Store: st, cacheDir: b.TempDir()}
		srv := startServe(b, l, nil)
		conn := srv.connect(b, srv.QueryToken)
		server := func(c *pgx.Conn) (time.Duration, map[int64]int64) {
			start := time.Now()
			rows, err := c.Query(ctx, fmt.Sprintf(grafana, "log_entries"))
			if err != nil {
				b.Fatal(err)
			}
			got := map[int64]int64{}
			for rows.Next() {
				var t time.Time
				var n int64
				if err := rows.Scan(&t, &n); err != nil {
					b.Fatal(err)
				}
				got[t.Unix()] = n
			}
			if err := rows.Err(); err != nil {
				b.Fatal(err)
			}
			return time.Since(start), got
		}
		sqlCache := b.TempDir()
		lakehouseSQL := func() (time.Duration, map[int64]int64) {
			start := time.Now()
			s, err := Open(ctx, QueryOptions{Store: st, Window: w, CacheDir: sqlCache})
			if err != nil {
				b.Fatal(err)
			}
			rs, err := s.Query(ctx, fmt.Sprintf(grafana, "log_entries"))
			if err != nil {
				b.Fatal(err)
			}
			got := hourCounts(b, rs)
			s.Close()
			return time.Since(start), got
		}
		glob := filepath.Join(root, layout.TablesPrefix, "log_entries", "**", "*"+layout.PartSuffix)
		direct := func() (time.Duration, map[int64]int64) {
			start := time.Now()
			db, err := sql.Open("duckdb", "")
			if err != nil {
				b.Fatal(err)
			}
			rs, err := db.QueryContext(ctx, fmt.Sprintf(grafana, fmt.Sprintf("read_parquet(%s, hive_partitioning = false)", quote(glob))))
			if err != nil {
				b.Fatal(err)
			}
			got := hourCounts(b, rs)
			db.Close()
			return time.Since(start), got
		}
		// Warm both part caches, as a server that has run a while and a machine that ran sql once.
		server(conn)
		lakehouseSQL()
		var sv, lh, dd []time.Duration
		for i := range runs {
			sides := []struct {
				name  string
				run   func() (time.Duration, map[int64]int64)
				times *[]time.Duration
			}{
				{"server", func() (time.Duration, map[int64]int64) { return server(conn) }, &sv},
				{"lakehouse sql", lakehouseSQL, &lh},
				{"direct", direct, &dd},
			}
			for k := range sides { // rotate who goes first
				side := sides[(i+k)%len(sides)]
				d, got := side.run()
				if !maps.Equal(got, want) {
					b.Fatalf("%s answered %v, want %v", side.name, got, want)
				}
				*side.times = append(*side.times, d)
			}
		}
		median := func(ds []time.Duration) time.Duration { slices.Sort(ds); return ds[len(ds)/2] }
		svM, lhM, ddM := median(sv), median(lh), median(dd)

		// 8 dashboard clients at once.
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		conns := make([]*pgx.Conn, clients)
		for i := range conns {
			conns[i] = srv.connect(b, srv.QueryToken)
		}
		began := time.Now()
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range rounds {
					d, got := server(c)
					if !maps.Equal(got, want) {
						b.Errorf("a concurrent client got %v", got)
						return
					}
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		wall := time.Since(began)
		slices.Sort(lat)
		p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
		b.Logf("%d rows over %d hours; server %v, lakehouse sql %v, direct %v; %d clients × %d queries in %s: p50 %s p99 %s",
			rowsTotal, hours, sv, lh, dd, clients, rounds, wall.Round(time.Millisecond), p(0.5), p(0.99))
		b.ReportMetric(svM.Seconds(), "s-server")
		b.ReportMetric(lhM.Seconds(), "s-lakehouse-sql")
		b.ReportMetric(ddM.Seconds(), "s-direct")
		b.ReportMetric(svM.Seconds()/lhM.Seconds(), "server/lakehouse-sql")
		b.ReportMetric(svM.Seconds()/ddM.Seconds(), "server/direct")
		b.ReportMetric(p(0.5).Seconds(), "s-p50-8-clients")
		b.ReportMetric(p(0.99).Seconds(), "s-p99-8-clients")
		b.ReportMetric(float64(len(lat))/wall.Seconds(), "queries/s-8-clients")
		st.Close()
	}
}

// hourCounts reads a (timestamp, count) result by the hour's unix seconds.
func hourCounts(b *testing.B, rs *sql.Rows) map[int64]int64 {
	defer rs.Close()
	got := map[int64]int64{}
	for rs.Next() {
		var t time.Time
		var n int64
		if err := rs.Scan(&t, &n); err != nil {
			b.Fatal(err)
		}
		got[t.Unix()] = n
	}
	if err := rs.Err(); err != nil {
		b.Fatal(err)
	}
	return got
}
