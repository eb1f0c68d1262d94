//go:build cgo

package lakehouse

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lakeblocks "github.com/telemetrylake/telemetrylake/lake/blocks"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
)

// TestHistogramQuantileFollowsPrometheus pins docs/contracts/lakehouse.md §1: histogram_quantile.
func TestHistogramQuantileFollowsPrometheus(t *testing.T) {
	l := startLake(t)
	// Buckets (-Inf,1] (1,2] (2,5] (5,10] (10,+Inf) holding 1, 3, 4, 2, 0: ten values.
	const b = `[1, 2, 5, 10]::DOUBLE[], [1, 3, 4, 2, 0]::UBIGINT[]`
	cases := map[string]any{
		// rank 5: four values lie below (2,5], which holds four: 2 + 3·(5-4)/4.
		"0.5": 2.75,
		// rank 9.5: eight below (5,10], which holds two: 5 + 5·(9.5-8)/2.
		"0.95": 8.75,
		// rank 0.5 falls in the first bucket, which starts at 0: 0 + 1·0.5/1.
		"0.05": 0.5,
		"1":    10.0,
		"1.5":  "inf",
		"-0.1": "-inf",
	}
	for q, want := range cases {
		got := l.one(t, `SELECT histogram_quantile(`+q+`, `+b+`) AS v`)["v"]
		if got != want {
			t.Errorf("histogram_quantile(%s) = %v, want %v", q, got, want)
		}
	}
	// A rank in the +Inf bucket answers the largest finite bound, as Prometheus does.
	if got := l.one(t, `SELECT histogram_quantile(0.9, [1, 2]::DOUBLE[], [1, 0, 9]::UBIGINT[]) AS v`)["v"]; got != 2.0 {
		t.Errorf("a quantile in the +Inf bucket = %v, want 2", got)
	}
	if got := l.one(t, `SELECT histogram_quantile(0.5, [1]::DOUBLE[], [0, 0]::UBIGINT[]) AS v`)["v"]; got != "nan" {
		t.Errorf("a quantile of an empty histogram = %v, want nan", got)
	}
	if got := l.one(t, `SELECT histogram_quantile(0.5, NULL, NULL) AS v`)["v"]; got != nil {
		t.Errorf("a quantile of a row without buckets = %v, want NULL", got)
	}
}

// TestBadSQLExitsTwoWithDuckDBsMessage pins docs/contracts/lakehouse.md §3: exit status 2.
func TestBadSQLExitsTwoWithDuckDBsMessage(t *testing.T) {
	l := startLake(t)
	r := l.lakehouse(t, "sql", "SELEC count(*) FROM log_entries")
	if r.code != ExitBadSQL || !strings.Contains(r.stderr, `syntax error at or near "SELEC"`) {
		t.Errorf("bad SQL: exit %d, stderr %q", r.code, r.stderr)
	}
	r = l.lakehouse(t, "sql", "SELECT no_such_column FROM log_entries")
	if r.code != ExitBadSQL || !strings.Contains(r.stderr, "no_such_column") {
		t.Errorf("unknown column: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestAnUnreachableStoreExitsThree pins docs/contracts/lakehouse.md §3: exit status 3.
func TestAnUnreachableStoreExitsThree(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	// Nothing listens on port 1.
	url := "s3://lake/tenant?endpoint=http://127.0.0.1:1&region=us-east-1&path_style=true"
	for _, cmd := range []string{"sql", "materialize"} {
		args := []string{cmd, "--storage", url, "--cache", t.TempDir()}
		if cmd == "sql" {
			args = append(args, "SELECT 1")
		}
		var stdout, stderr strings.Builder
		code := Main(context.Background(), args, &stdout, &stderr)
		if code != ExitUnreachable || !strings.Contains(stderr.String(), "the store cannot be reached") || !strings.Contains(stderr.String(), "127.0.0.1:1") {
			t.Errorf("%s against an unreachable store: exit %d, stderr %q", cmd, code, stderr.String())
		}
	}
}

// TestOverlappingPartsAreReadOnce builds the race that content addressing alone cannot prevent:
// one run materializes blocks a and b, another (which listed later) a, b and c. Readers must
// read each block from one part only.
// It pins docs/contracts/lakehouse.md §2, which part a reader reads.
func TestOverlappingPartsAreReadOnce(t *testing.T) {
	l := startLake(t)
	hour := time.Now().UTC().Add(-5 * time.Hour).Truncate(time.Hour)
	window := []string{"--since", hour.Format(time.RFC3339), "--until", hour.Add(time.Hour).Format(time.RFC3339)}
	post(t, l.URL+"/v1/logs", logsRequest(t, "a", hour.Add(time.Minute), 3))
	post(t, l.URL+"/v1/logs", logsRequest(t, "b", hour.Add(2*time.Minute), 3))
	if r := l.lakehouse(t, append([]string{"materialize"}, window...)...); r.code != 0 {
		t.Fatalf("materialize: %s", r.stderr)
	}
	post(t, l.URL+"/v1/logs", logsRequest(t, "c", hour.Add(3*time.Minute), 3))

	// The other run: a lake with the same blocks and no parts yet, whose parts then land here.
	otherDir := t.TempDir()
	copyTree(t, strings.TrimPrefix(l.Storage, "file://")+"/"+layout.SegmentsPrefix, otherDir+"/"+layout.SegmentsPrefix)
	other := &lake{Storage: "file://" + otherDir, cacheDir: t.TempDir()}
	if r := other.lakehouse(t, append([]string{"materialize"}, window...)...); r.code != 0 {
		t.Fatalf("materialize the other lake: %s", r.stderr)
	}
	otherStore, err := store.Open(context.Background(), other.Storage)
	if err != nil {
		t.Fatal(err)
	}
	defer otherStore.Close()
	other.Store = otherStore
	for _, key := range other.keys(t, "tables/") {
		data, _, err := otherStore.Get(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Store.Create(context.Background(), key, data, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(l.keys(t, "tables/log_entries/")); got != 2 {
		t.Fatalf("%d log_entries parts, want the two overlapping ones", got)
	}

	got := l.one(t, `SELECT count(*) AS n, count(DISTINCT block_id) AS blocks FROM log_entries`, window...)
	if got["n"] != float64(9) || got["blocks"] != float64(3) {
		t.Errorf("overlapping parts read as %v, want 9 rows from 3 blocks", got)
	}
	if s := l.session(t, hour).Stats; s.Parts != 2 || s.PartsSkipped != 2 || s.FreshBlocks != 0 {
		t.Errorf("stats %+v: want the bigger part of each table read and the smaller skipped", s)
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o750)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o640)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestABlockWithNoTimeIsQueriedAndReported: the ingester files it under undated, which no hour
// holds; queries still see its rows once, and materialize says it left it out.
// It pins docs/contracts/lakehouse.md §2 on undated blocks.
func TestABlockWithNoTimeIsQueriedAndReported(t *testing.T) {
	l := startLake(t)
	post(t, l.URL+"/v1/logs", logsRequest(t, "timeless", time.Unix(0, 0), 1))
	// In an open segment on the file store (storage.md §5.7), under undated once sealed: either
	// way, readers place it in no hour.
	found, _, err := lakeblocks.List(context.Background(), l.Store, lakeblocks.Filter{})
	if err != nil || len(found) != 1 || found[0].Ref.Partition != layout.Undated {
		t.Fatalf("blocks found: %+v, %v; want one, undated", found, err)
	}
	got := l.one(t, `SELECT count(*) AS n, any_value(time) AS time, any_value(body) AS body FROM log_entries`)
	if got["n"] != float64(1) || got["time"] != nil || got["body"] != "timeless line 0" {
		t.Errorf("an undated log reads as %v", got)
	}
	r := l.lakehouse(t, "materialize")
	if r.code != 0 || !strings.Contains(r.stdout, "undated    1 blocks") {
		t.Errorf("materialize (exit %d) does not report the undated block:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestAWindowKeepsOnlyItsRowsOfAPartThatSpansPastIt: a block is filed under the hour of its
// earliest record, so a part of one hour can hold rows of the next. A reader skips the time filter
// for parts whose rows all fall inside its window; this part's do not, and must still be cut.
// It pins docs/contracts/lakehouse.md §2, hours, windows and time.
func TestAWindowKeepsOnlyItsRowsOfAPartThatSpansPastIt(t *testing.T) {
	l := startLake(t)
	hour := time.Now().UTC().Add(-4 * time.Hour).Truncate(time.Hour)
	post(t, l.URL+"/v1/logs", logsRequest(t, "spanning", hour.Add(time.Hour-10*time.Second), 20)) // 10 rows in each hour
	post(t, l.URL+"/v1/logs", logsRequest(t, "inside", hour.Add(30*time.Minute), 5))
	window := func(from, to time.Time) []string {
		return []string{"--since", from.Format(time.RFC3339), "--until", to.Format(time.RFC3339)}
	}
	counts := func() [3]float64 {
		const q = `SELECT count(*) AS n FROM log_entries`
		return [3]float64{
			l.one(t, q, window(hour, hour.Add(time.Hour))...)["n"].(float64),
			l.one(t, q, window(hour.Add(time.Hour), hour.Add(2*time.Hour))...)["n"].(float64),
			l.one(t, q, window(hour, hour.Add(2*time.Hour))...)["n"].(float64),
		}
	}
	want := [3]float64{15, 10, 25}
	if got := counts(); got != want {
		t.Fatalf("before materializing: rows in the first hour, the second, both = %v, want %v", got, want)
	}
	if r := l.lakehouse(t, append([]string{"materialize"}, window(hour, hour.Add(time.Hour))...)...); r.code != 0 {
		t.Fatalf("materialize exited %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := counts(); got != want {
		t.Errorf("read from the part: rows in the first hour, the second, both = %v, want %v", got, want)
	}
}
