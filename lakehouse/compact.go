//go:build cgo

package lakehouse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/lakehouse/parts"
	"github.com/telemetrylake/telemetrylake/lakehouse/rows"
)

// CompactOptions say what to compact.
type CompactOptions struct {
	Store  store.Store
	Window parts.Window
	// MinParts is how many parts a table's hour must have to be compacted; anything below 2 is 2.
	MinParts int
	// Grace is how long to wait between writing the merged parts and deleting the parts they
	// replace. Correctness does not need it (see doc.go); it spares readers that listed just
	// before the merged parts landed a second plan, and lets a crash test stop a run in between.
	Grace time.Duration
	// CacheDir keeps local copies of parts (see partCache); "" is DefaultCacheDir().
	CacheDir string
	// CacheMaxBytes bounds the cache; 0 is DefaultCacheMaxBytes.
	CacheMaxBytes int64
	// Progress, when set, is told when the deleting starts.
	Progress io.Writer
}

// CompactSummary is what a compaction did, for its closing report.
type CompactSummary struct {
	Groups        int // table hours with at least MinParts parts, each merged into one
	PartsCreated  int // merged parts written
	PartsExisting int // merged parts already there (a run killed before it deleted): only deleting was left
	PartsDeleted  int // replaced parts deleted
	Rows          map[string]int
	BytesOut      int64
	// Raced counts the table hours left alone because one of their parts vanished while they were
	// read: a compaction beside this one replaced it. The next run finds them merged.
	Raced    int
	BadParts []badPart
	// Segments is what the rewriting of the window's segments did (compactSegments).
	Segments SegmentCompaction
	Elapsed  time.Duration
}

// Compact merges, for every table and hour of the window with at least MinParts parts, those parts
// into one that holds the union of their block sets, named by that union like any other part, and
// then deletes the parts it replaces. It writes every merged part before it deletes anything, and
// deletes a part only once a part that holds all of its blocks is durable, so every block stays
// in some part throughout. Running it twice does nothing the second time; a run killed before it
// deleted leaves parts that readers choose among as they do among any overlapping parts, and the
// next run finds the merged part there and only deletes.
func Compact(ctx context.Context, opts CompactOptions) (*CompactSummary, error) {
	start := time.Now()
	sum := &CompactSummary{Rows: map[string]int{}}
	if err := compactSegments(ctx, opts, &sum.Segments); err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	groups, err := listGroups(ctx, opts.Store, opts.Window, max(2, opts.MinParts))
	if err != nil {
		return nil, err
	}
	if len(groups) == 0 {
		sum.Elapsed = time.Since(start)
		return sum, nil
	}
	e, err := openEngine(ctx)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	tmp, err := os.MkdirTemp("", "lakehouse-compact-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	c := &compaction{e: e, st: opts.Store, cache: newPartCache(opts.CacheDir, opts.CacheMaxBytes), tmp: tmp}

	var replaced []layout.PartRef
	for _, g := range groups {
		r, err := c.merge(ctx, g, max(2, opts.MinParts), sum)
		if err != nil {
			return nil, fmt.Errorf("%s, hour %s: %w", g.table.Name, g.hour.Format("2006-01-02T15"), err)
		}
		replaced = append(replaced, r...)
	}

	if err := opts.waitGrace(ctx, len(replaced), "parts"); err != nil {
		return nil, err
	}
	for _, ref := range replaced {
		if err := deletePart(ctx, opts.Store, ref); err != nil {
			return nil, err
		}
		sum.PartsDeleted++
	}
	sum.Elapsed = time.Since(start)
	return sum, nil
}

// waitGrace waits Grace, if any, between writing what replaces n objects (parts or segments)
// and deleting them, and says so on Progress.
func (opts CompactOptions) waitGrace(ctx context.Context, n int, what string) error {
	if n == 0 || opts.Grace <= 0 {
		return nil
	}
	if opts.Progress != nil {
		fmt.Fprintf(opts.Progress, "compact: merged %s written; waiting %s before deleting the %d %s they replace\n", what, opts.Grace, n, what)
	}
	select {
	case <-time.After(opts.Grace):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// partGroup is one table's parts of one hour.
type partGroup struct {
	table *rows.Table
	hour  time.Time
	refs  []layout.PartRef
}

// listGroups lists the window's parts and returns the table hours that have at least minParts,
// in a stable order.
func listGroups(ctx context.Context, st store.Store, w parts.Window, minParts int) ([]partGroup, error) {
	var groups []partGroup
	for _, t := range rows.Tables {
		refs, err := listParts(ctx, st, t, w)
		if err != nil {
			return nil, err
		}
		byHour := map[time.Time][]layout.PartRef{}
		for _, ref := range refs {
			byHour[ref.Hour] = append(byHour[ref.Hour], ref)
		}
		var hours []time.Time
		for h, refs := range byHour {
			if len(refs) >= minParts {
				hours = append(hours, h)
			}
		}
		sort.Slice(hours, func(i, j int) bool { return hours[i].Before(hours[j]) })
		for _, h := range hours {
			groups = append(groups, partGroup{table: t, hour: h, refs: byHour[h]})
		}
	}
	return groups, nil
}

// compaction holds what merging needs across table hours.
type compaction struct {
	e     *engine
	st    store.Store
	cache *partCache
	tmp   string
}

// merge writes the part that replaces a table hour's parts, unless it is already there, and
// returns the parts it replaces. A part that cannot be trusted is neither merged nor deleted.
func (c *compaction) merge(ctx context.Context, g partGroup, minParts int, sum *CompactSummary) ([]layout.PartRef, error) {
	good, local, bad, err := loadParts(ctx, c.e, c.st, c.cache, g.refs)
	if errors.Is(err, store.ErrNotFound) {
		sum.Raced++
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sum.BadParts = append(sum.BadParts, bad...)
	if len(good) < minParts {
		return nil, nil
	}
	sum.Groups++
	m := parts.PlanMerge(g.table.Name, good)
	if m.Exists {
		sum.PartsExisting++
	} else {
		created, n, size, err := c.write(ctx, g, m, local)
		if err != nil {
			return nil, err
		}
		if created {
			sum.PartsCreated++
			sum.Rows[g.table.Name] += n
			sum.BytesOut += size
		} else {
			sum.PartsExisting++
		}
	}
	var replaced []layout.PartRef
	for _, p := range m.Replaced {
		replaced = append(replaced, p.PartRef)
	}
	return replaced, nil
}

// write copies the rows of the merge's selections into one part and stores it create-only.
// created is false when the part was there already, written by a compaction beside this one.
func (c *compaction) write(ctx context.Context, g partGroup, m parts.Merge, local map[string]string) (created bool, n int, size int64, err error) {
	t := g.table
	tmpTable := "_merge_" + t.Name
	if err := c.e.createTable(ctx, tmpTable, t); err != nil {
		return false, 0, 0, fmt.Errorf("duckdb: %w", err)
	}
	defer c.e.exec(ctx, "DROP TABLE IF EXISTS "+ident(tmpTable))
	var filter string
	if t == &rows.Processes {
		filter = processesFilter
	}
	q := fmt.Sprintf("INSERT INTO %s BY NAME SELECT * FROM (\n%s\n) %s", ident(tmpTable),
		strings.Join(selectionsSQL(m.From, local, nil), "\nUNION ALL BY NAME\n"), filter)
	if err := c.e.exec(ctx, q); err != nil {
		return false, 0, 0, fmt.Errorf("duckdb: merge parts: %w", err)
	}
	if err := c.e.conn.QueryRowContext(ctx, "SELECT count(*) FROM "+ident(tmpTable)).Scan(&n); err != nil {
		return false, 0, 0, fmt.Errorf("duckdb: %w", err)
	}
	ref := layout.PartRef{Key: layout.PartKey(t.Name, g.hour, m.Name), Table: t.Name, Hour: g.hour, Name: m.Name}
	file := filepath.Join(c.tmp, m.Name+layout.PartSuffix)
	var span parts.TimeRange
	if t.TimeColumn != "" {
		if span, err = c.e.tableSpan(ctx, tmpTable, t); err != nil {
			return false, 0, 0, err
		}
	}
	if err := c.e.writeParquet(ctx, fmt.Sprintf("SELECT * FROM %s ORDER BY %s", ident(tmpTable), partOrder(t)), file, t, m.Blocks, span); err != nil {
		return false, 0, 0, err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return false, 0, 0, err
	}
	os.Remove(file)
	if created, err = c.st.Create(ctx, ref.Key, data, nil); err != nil {
		return false, 0, 0, storeErr(fmt.Errorf("write part %s: %w", ref.Key, err))
	}
	c.cache.put(ref, data)
	return created, n, int64(len(data)), nil
}

// partOrder is the order of a part's rows, the one rows.Batch.SortByTime gives them, so that the
// same blocks give the same file whether materialized or merged.
func partOrder(t *rows.Table) string {
	if t.TimeColumn == "" {
		return "block_id, process_id"
	}
	return "block_id, " + ident(t.TimeColumn) + " NULLS LAST"
}

// deletePart deletes a part that a merged part replaced. It refuses anything that is not a part's
// key: blocks and process records are never deleted.
func deletePart(ctx context.Context, st store.Store, ref layout.PartRef) error {
	if _, ok := layout.ParsePartKey(ref.Key); !ok {
		return fmt.Errorf("refusing to delete %s: not a part", ref.Key)
	}
	if err := st.Delete(ctx, ref.Key); err != nil {
		return fmt.Errorf("delete replaced part %s: %w (the merged parts are written, so queries are "+
			"unaffected; the replaced ones stay until a compaction can delete them, which needs permission "+
			"to delete objects under %s/)", ref.Key, err, layout.TablesPrefix)
	}
	return nil
}
