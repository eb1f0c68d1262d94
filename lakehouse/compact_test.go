//go:build cgo

package lakehouse

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telemetrylake/telemetrylake/ingester/otlpwire"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/lakehouse/parts"

	"github.com/telemetrylake/telemetrylake/test/harness"
)

// storeLogBlocks stores one export request's blocks straight into the store, as the ingester
// would, and returns their keys.
func storeLogBlocks(t *testing.T, st store.Store, service string, at time.Time, n int) []string {
	t.Helper()
	split, err := otlpwire.Split(layout.Logs, logsRequest(t, service, at, n))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, b := range split {
		_, key := layout.BlockAddress(b.Meta, b.Bytes)
		if _, err := st.Create(context.Background(), key, b.Bytes, b.Meta.Map()); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	return keys
}

// notYetArrived is a real store seen by a materialization that ran before some blocks arrived:
// its listings leave those blocks out. Queries read the store itself, so the blocks are there for
// them all along, and the count a query must give never changes while parts come and go.
type notYetArrived struct {
	store.Store
	hidden map[string]bool
}

func (s *notYetArrived) List(ctx context.Context, prefix string, fn func(key string) error) error {
	return s.Store.List(ctx, prefix, func(key string) error {
		if s.hidden[key] {
			return nil
		}
		return fn(key)
	})
}

// compactionRig is a lake whose blocks all arrived before the test's queries start, in rounds
// that a materialization sees one at a time, as late blocks.
type compactionRig struct {
	l      *lake
	window parts.Window
	rounds [][]string // block keys by the round in which the materializer first sees them
	rows   int
	blocks int
}

func newCompactionRig(t *testing.T, l *lake, hours, rounds int) *compactionRig {
	first := time.Now().UTC().Add(-10 * time.Hour).Truncate(time.Hour)
	r := &compactionRig{l: l, window: parts.Window{Since: first, Until: first.Add(time.Duration(hours) * time.Hour)}}
	for round := range rounds {
		var keys []string
		for h := range hours {
			for s := range 2 {
				at := first.Add(time.Duration(h)*time.Hour + time.Duration(round)*time.Minute)
				n := 3 + round + s
				keys = append(keys, storeLogBlocks(t, l.Store, fmt.Sprintf("svc-%d-%d", h, s), at, n)...)
				r.rows += n
			}
		}
		r.rounds = append(r.rounds, keys)
		r.blocks += len(keys)
	}
	return r
}

// materializeUpTo materializes the window as a run would once the blocks of rounds 0..round had
// arrived.
func (r *compactionRig) materializeUpTo(t *testing.T, round int) *MaterializeSummary {
	t.Helper()
	hidden := map[string]bool{}
	for _, keys := range r.rounds[round+1:] {
		for _, k := range keys {
			hidden[k] = true
		}
	}
	sum, err := Materialize(context.Background(), MaterializeOptions{Store: &notYetArrived{r.l.Store, hidden}, Window: r.window, CacheDir: r.l.cacheDir})
	if err != nil {
		t.Fatalf("materialize up to round %d: %v", round, err)
	}
	return sum
}

func (r *compactionRig) compact(t *testing.T) *CompactSummary {
	t.Helper()
	sum, err := Compact(context.Background(), CompactOptions{Store: r.l.Store, Window: r.window, CacheDir: r.l.cacheDir})
	if err != nil {
		t.Fatalf("compact: %v", err)
	}
	return sum
}

// count queries the window through store st, with a cache of its own so that every part it uses
// is read from the store, and returns the rows, blocks and processes it sees.
func (r *compactionRig) count(ctx context.Context, st store.Store, cache string) (rowsSeen, blocks, processes int, stats SessionStats, err error) {
	s, err := Open(ctx, QueryOptions{Store: st, Window: r.window, CacheDir: cache})
	if err != nil {
		return 0, 0, 0, stats, err
	}
	defer s.Close()
	err = s.e.conn.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM log_entries), (SELECT count(DISTINCT block_id) FROM log_entries),
		(SELECT count(*) FROM processes)`).Scan(&rowsSeen, &blocks, &processes)
	return rowsSeen, blocks, processes, s.Stats, err
}

// partsPerHour counts a table's parts in each hour.
func partsPerHour(t *testing.T, l *lake, table string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, key := range l.keys(t, layout.TablesPrefix+"/"+table+"/") {
		out[filepath.Dir(key)]++
	}
	return out
}

// TestCompactionWhileAQueryLoops merges parts, again and again, while queries run back to back
// over the same hours: every query must count every row once.
// It pins docs/contracts/lakehouse.md §2.
func TestCompactionWhileAQueryLoops(t *testing.T) {
	for _, b := range harness.Backends() {
		t.Run(b.Name, func(t *testing.T) { compactionWhileQueriesLoop(t, startLakeOn(t, b.Storage(t))) })
	}
}

func compactionWhileQueriesLoop(t *testing.T, l *lake) {
	const hours, rounds = 3, 8
	r := newCompactionRig(t, l, hours, rounds)
	// Rounds 0 to 2 are materialized before the queries start, one run each: three parts per
	// table hour. Rounds 3 to 6 are materialized while they run, and round 7 never is: its
	// blocks are decoded by every query.
	for round := range 3 {
		r.materializeUpTo(t, round)
	}
	for dir, n := range partsPerHour(t, l, "log_entries") {
		if n != 3 {
			t.Fatalf("%s has %d parts before compacting, want 3", dir, n)
		}
	}

	ctx := context.Background()
	cacheRoot := t.TempDir()
	done := make(chan struct{})
	var (
		mu      sync.Mutex
		queries int
		replans int
		wg      sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			n, blocks, procs, stats, err := r.count(ctx, l.Store, filepath.Join(cacheRoot, strconv.Itoa(i)))
			if err != nil {
				t.Errorf("query %d: %v", i, err)
				return
			}
			if n != r.rows || blocks != r.blocks || procs != 2*hours {
				t.Errorf("query %d saw %d rows from %d blocks and %d processes, want %d rows from %d blocks and %d processes (stats %+v)",
					i, n, blocks, procs, r.rows, r.blocks, 2*hours, stats)
			}
			mu.Lock()
			queries++
			replans += stats.Replans
			mu.Unlock()
		}
	}()
	// Each step waits for a query to finish after it, so that queries span every state.
	waitForAQuery := func() {
		mu.Lock()
		start := queries
		mu.Unlock()
		for {
			mu.Lock()
			n := queries
			mu.Unlock()
			if n > start || t.Failed() {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	var compactions []*CompactSummary
	waitForAQuery()
	compactions = append(compactions, r.compact(t))
	for round := 3; round <= 6; round++ {
		waitForAQuery()
		r.materializeUpTo(t, round)
		waitForAQuery()
		compactions = append(compactions, r.compact(t))
	}
	waitForAQuery()
	compactions = append(compactions, r.compact(t))
	waitForAQuery()
	close(done)
	wg.Wait()
	t.Logf("%d queries ran beside %d compactions; %d of them planned again because a part vanished", queries, len(compactions), replans)

	// 2 tables (log_entries, processes) × 3 hours are merged by every compaction but the last.
	for i, c := range compactions[:len(compactions)-1] {
		if c.Groups != 2*hours || c.PartsCreated != 2*hours || c.PartsDeleted == 0 {
			t.Errorf("compaction %d: %+v, want %d table hours merged", i, c, 2*hours)
		}
	}
	if last := compactions[len(compactions)-1]; last.Groups != 0 || last.PartsCreated+last.PartsExisting+last.PartsDeleted != 0 {
		t.Errorf("a compaction of compacted hours did work: %+v", last)
	}
	for _, table := range []string{"log_entries", "processes"} {
		for dir, n := range partsPerHour(t, l, table) {
			if n != 1 {
				t.Errorf("%s has %d parts after compacting, want 1", dir, n)
			}
		}
	}

	t.Run("compacting twice is a no-op", func(t *testing.T) {
		before := sorted(l.keys(t, "tables/"))
		if c := r.compact(t); c.Groups+c.PartsCreated+c.PartsExisting+c.PartsDeleted != 0 {
			t.Errorf("the second compaction did work: %+v", c)
		}
		if after := sorted(l.keys(t, "tables/")); strings.Join(before, " ") != strings.Join(after, " ") {
			t.Errorf("parts changed: %v, then %v", before, after)
		}
	})
}

// partReads is a real store that runs a hook before the first read of a part.
type partReads struct {
	store.Store
	once   sync.Once
	before func()
	// gone, when set, makes every read of a part fail as if it had been deleted.
	gone bool
}

func (s *partReads) Get(ctx context.Context, key string) ([]byte, map[string]string, error) {
	if strings.HasPrefix(key, layout.TablesPrefix+"/") {
		if s.before != nil {
			s.once.Do(s.before)
		}
		if s.gone {
			return nil, nil, fmt.Errorf("%s: %w", key, store.ErrNotFound)
		}
	}
	return s.Store.Get(ctx, key)
}

// TestAPartReplacedBetweenListingAndReadingIsFoundInTheMergedPart runs a compaction at the worst
// moment for a reader: after it listed the parts, before it read them.
func TestAPartReplacedBetweenListingAndReadingIsFoundInTheMergedPart(t *testing.T) {
	l := startLake(t)
	r := newCompactionRig(t, l, 1, 4)
	r.materializeUpTo(t, 0)
	r.materializeUpTo(t, 1)
	// It runs on the reader's goroutine, where the test must not stop.
	compactNow := func() {
		if _, err := Compact(context.Background(), CompactOptions{Store: l.Store, Window: r.window, CacheDir: t.TempDir()}); err != nil {
			t.Errorf("compact: %v", err)
		}
	}

	t.Run("a query plans again and reads the merged part", func(t *testing.T) {
		n, blocks, _, stats, err := r.count(context.Background(), &partReads{Store: l.Store, before: compactNow}, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if n != r.rows || blocks != r.blocks {
			t.Errorf("%d rows from %d blocks, want %d from %d", n, blocks, r.rows, r.blocks)
		}
		if stats.Replans != 1 || stats.Parts != 2 || stats.PartsSkipped != 0 {
			t.Errorf("stats %+v: want one plan thrown away, then the merged log_entries and processes parts", stats)
		}
	})

	t.Run("a materialization lists the hour again and decodes only what no part holds", func(t *testing.T) {
		r.materializeUpTo(t, 2) // a second part per table, to be merged under the run's feet
		sum, err := Materialize(context.Background(), MaterializeOptions{Store: &partReads{Store: l.Store, before: compactNow}, Window: r.window, CacheDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if want := len(r.rounds[3]); sum.Blocks != want || sum.PartsCreated != 2 {
			t.Errorf("decoded %d blocks into %d parts, want only round 3's %d blocks, into 2 parts", sum.Blocks, sum.PartsCreated, want)
		}
		if n, blocks, _, _, err := r.count(context.Background(), l.Store, t.TempDir()); err != nil || n != r.rows || blocks != r.blocks {
			t.Errorf("%d rows from %d blocks (%v), want %d from %d", n, blocks, err, r.rows, r.blocks)
		}
	})
}

// TestAQueryWhosePartsKeepVanishingFailsRatherThanAnswerPartly: a reader that cannot read what
// it listed, plan after plan, must say so, not answer from the blocks it could read.
// It pins docs/contracts/lakehouse.md §2 (up to 5 plans).
func TestAQueryWhosePartsKeepVanishingFailsRatherThanAnswerPartly(t *testing.T) {
	l := startLake(t)
	r := newCompactionRig(t, l, 1, 1)
	r.materializeUpTo(t, 0)
	_, _, _, _, err := r.count(context.Background(), &partReads{Store: l.Store, gone: true}, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "kept vanishing") {
		t.Fatalf("query = %v, want an error saying parts kept vanishing", err)
	}
	var se *StoreError
	if errors.As(err, &se) {
		t.Errorf("%v is a StoreError: the command line would call a reachable store unreachable", err)
	}
}
