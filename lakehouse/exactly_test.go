//go:build cgo

package lakehouse

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/lakehouse/parts"

	"github.com/telemetrylake/telemetrylake/test/harness"
)

// logsRequest is one export request from one service with n log records at t+0s, t+1s, ...
func logsRequest(t *testing.T, service string, at time.Time, n int) []byte {
	t.Helper()
	rl := &logspb.ResourceLogs{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			{Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: service}}},
		}},
		ScopeLogs: []*logspb.ScopeLogs{{}},
	}
	for i := range n {
		rl.ScopeLogs[0].LogRecords = append(rl.ScopeLogs[0].LogRecords, &logspb.LogRecord{
			TimeUnixNano: uint64(at.Add(time.Duration(i) * time.Second).UnixNano()),
			Body:         &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: fmt.Sprintf("%s line %d", service, i)}},
		})
	}
	b, err := proto.Marshal(&collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{rl}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEachBlockIsCountedOnceWhateverHappens walks one hour of one lake through the cases of
// docs/contracts/lakehouse.md §2, checking after each step that the count has not drifted.
func TestEachBlockIsCountedOnceWhateverHappens(t *testing.T) {
	for _, b := range harness.Backends() {
		t.Run(b.Name, func(t *testing.T) { eachBlockOnce(t, startLakeOn(t, b.Storage(t))) })
	}
}

func eachBlockOnce(t *testing.T, l *lake) {
	hour := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour)
	window := []string{"--since", hour.Format(time.RFC3339), "--until", hour.Add(time.Hour).Format(time.RFC3339)}
	count := func(t *testing.T) float64 {
		t.Helper()
		return l.one(t, `SELECT count(*) AS n FROM log_entries`, window...)["n"].(float64)
	}
	materialize := func(t *testing.T) run {
		t.Helper()
		r := l.lakehouse(t, append([]string{"materialize"}, window...)...)
		if r.code != 0 {
			t.Fatalf("materialize exited %d:\n%s%s", r.code, r.stdout, r.stderr)
		}
		return r
	}

	t.Run("the same POST a hundred times counts once", func(t *testing.T) {
		body := logsRequest(t, "checkout", hour.Add(10*time.Minute), 10)
		var wg sync.WaitGroup
		for range 100 {
			wg.Add(1)
			go func() { defer wg.Done(); post(t, l.URL+"/v1/logs", body) }()
		}
		wg.Wait()
		if got := count(t); got != 10 {
			t.Errorf("%v rows, want 10", got)
		}
	})

	var partsAfterFirst []string
	t.Run("a materialized hour reads the same, from its parts alone", func(t *testing.T) {
		r := materialize(t)
		if !strings.Contains(r.stdout, "parts      2 written") {
			t.Errorf("the first run should write a log_entries and a processes part:\n%s", r.stdout)
		}
		partsAfterFirst = l.keys(t, "tables/")
		if got := count(t); got != 10 {
			t.Errorf("%v rows, want 10", got)
		}
		stats := l.session(t, hour).Stats
		if stats.FreshBlocks != 0 || stats.Parts != 2 {
			t.Errorf("a materialized hour was read from %d parts and %d fresh blocks; want 2 parts, none fresh", stats.Parts, stats.FreshBlocks)
		}
	})

	t.Run("materializing twice writes nothing new", func(t *testing.T) {
		r := materialize(t)
		if !strings.Contains(r.stdout, "parts      0 written, 0 already there") || !strings.Contains(r.stdout, "blocks     0 decoded") {
			t.Errorf("the second run did work:\n%s", r.stdout)
		}
		if got := l.keys(t, "tables/"); !slices.Equal(sorted(got), sorted(partsAfterFirst)) {
			t.Errorf("parts changed: %v, then %v", partsAfterFirst, got)
		}
	})

	t.Run("a late block for a materialized hour appears once, before and after it is materialized", func(t *testing.T) {
		post(t, l.URL+"/v1/logs", logsRequest(t, "late", hour.Add(20*time.Minute), 1))
		if got := count(t); got != 11 {
			t.Errorf("%v rows with the late block still unmaterialized, want 11", got)
		}
		r := materialize(t)
		if !strings.Contains(r.stdout, "blocks     1 decoded") || !strings.Contains(r.stdout, "parts      2 written") {
			t.Errorf("the late block should make one new part per table it feeds:\n%s", r.stdout)
		}
		if got := count(t); got != 11 {
			t.Errorf("%v rows once the late block is materialized, want 11", got)
		}
		if got := l.one(t, `SELECT count(*) AS n FROM processes`, window...)["n"]; got != float64(2) {
			t.Errorf("%v processes, want 2", got)
		}
	})

	t.Run("two materializations racing count once", func(t *testing.T) {
		for i := range 5 {
			post(t, l.URL+"/v1/logs", logsRequest(t, fmt.Sprintf("racer-%d", i), hour.Add(30*time.Minute), 2))
		}
		var wg sync.WaitGroup
		results := make([]run, 2)
		for i := range results {
			wg.Add(1)
			go func() { defer wg.Done(); results[i] = l.lakehouse(t, append([]string{"materialize"}, window...)...) }()
		}
		wg.Wait()
		for _, r := range results {
			if r.code != 0 {
				t.Fatalf("a racing run exited %d: %s", r.code, r.stderr)
			}
		}
		if got := count(t); got != 21 {
			t.Errorf("%v rows after the race, want 21", got)
		}
		if r := materialize(t); !strings.Contains(r.stdout, "parts      0 written, 0 already there") {
			t.Errorf("a run after the race still found work:\n%s", r.stdout)
		}
	})

	t.Run("a corrupt block is skipped, named, and the rest of its hour still counts", func(t *testing.T) {
		garbage := []byte("this is not protobuf")
		id := layout.BlockID(layout.Logs, garbage)
		key := layout.BlockKey(layout.Logs, uint64(hour.Add(40*time.Minute).UnixNano()), id)
		if _, err := l.Store.Create(context.Background(), key, garbage, nil); err != nil {
			t.Fatal(err)
		}
		post(t, l.URL+"/v1/logs", logsRequest(t, "neighbour", hour.Add(40*time.Minute), 1))
		q := l.lakehouse(t, append(append([]string{"sql", "--format", "csv"}, window...), `SELECT count(*) AS n FROM log_entries`)...)
		if q.code != 0 || q.stdout != "n\n22\n" || !strings.Contains(q.stderr, key) {
			t.Errorf("query with a corrupt block: exit %d, stdout %q, stderr %q; want 22 rows and a warning naming %s", q.code, q.stdout, q.stderr, key)
		}
		r := materialize(t)
		if !strings.Contains(r.stdout, "skipped    1 blocks") || !strings.Contains(r.stdout, key) {
			t.Errorf("the summary does not list the corrupt block:\n%s", r.stdout)
		}
		if got := count(t); got != 22 {
			t.Errorf("%v rows, want 22", got)
		}
	})
}

// session opens the library's query session over one hour, to look at where rows came from.
func (l *lake) session(t *testing.T, hour time.Time) *Session {
	t.Helper()
	s, err := Open(context.Background(), QueryOptions{Store: l.Store, Window: parts.Window{Since: hour, Until: hour.Add(time.Hour)}, CacheDir: l.cacheDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestTheSameBlocksGiveTheSameParts: two materializations of the same blocks, in two stores, write
// parts of the same names and the same bytes, whatever order their blocks decoded in.
// It pins docs/contracts/lakehouse.md §2.
func TestTheSameBlocksGiveTheSameParts(t *testing.T) {
	l := startLake(t)
	ctx := context.Background()
	hour := time.Now().UTC().Add(-5 * time.Hour).Truncate(time.Hour)
	for i := range 12 {
		post(t, l.URL+"/v1/logs", logsRequest(t, fmt.Sprintf("svc-%d", i%3), hour.Add(time.Duration(i)*time.Minute), 20+i))
	}
	copyStore, err := store.Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range append(l.keys(t, layout.SegmentsPrefix+"/"), l.keys(t, layout.ProcessesPrefix+"/")...) {
		data, meta, err := l.Store.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := copyStore.Create(ctx, k, data, meta); err != nil {
			t.Fatal(err)
		}
	}
	w := parts.Window{Since: hour, Until: hour.Add(time.Hour)}
	written := map[string][]byte{}
	for i, st := range []store.Store{l.Store, copyStore} {
		if _, err := Materialize(ctx, MaterializeOptions{Store: st, Window: w, CacheDir: t.TempDir()}); err != nil {
			t.Fatal(err)
		}
		var keys []string
		st.List(ctx, layout.TablesPrefix+"/", func(k string) error { keys = append(keys, k); return nil })
		if len(keys) != 2 { // log_entries and processes
			t.Fatalf("store %d holds parts %v, want one of each table", i, keys)
		}
		for _, k := range keys {
			data, _, err := st.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				written[k] = data
			} else if !bytes.Equal(written[k], data) {
				t.Errorf("part %s differs between the two materializations (%d and %d bytes; present in the first: %v)", k, len(written[k]), len(data), written[k] != nil)
			}
		}
	}
}
