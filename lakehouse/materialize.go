//go:build cgo

package lakehouse

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/lakehouse/parts"
	"github.com/telemetrylake/telemetrylake/lakehouse/rows"
)

// MaterializeOptions say what to materialize.
type MaterializeOptions struct {
	Store  store.Store
	Window parts.Window
	// CacheDir keeps local copies of parts (see partCache); "" is DefaultCacheDir().
	CacheDir string
	// CacheMaxBytes bounds the cache; 0 is DefaultCacheMaxBytes.
	CacheMaxBytes int64
	// Compact, when set, compacts the window's parts once the missing ones are written, so that
	// late blocks and racing runs do not leave an hour in many small parts (see Compact).
	Compact bool
}

// MaterializeSummary is what a run did, for its closing report.
type MaterializeSummary struct {
	Hours          int // hours of the window that have blocks
	HoursWritten   int // hours that got at least one new part
	Blocks         int // blocks decoded
	BytesIn        int64
	Rows           map[string]int // written, by table
	PartsCreated   int
	PartsDuplicate int // written by another run first: same blocks, same name
	BytesOut       int64
	Elapsed        time.Duration
	Skipped        []SkippedBlock
	// SkippedSegments are the segments left out whole: not intact.
	SkippedSegments []SkippedBlock
	BadParts        []badPart
	// Undated counts the blocks that carry no time at all. They belong to no hour, so they are
	// not materialized; every query decodes them.
	Undated int
	// Compaction is what the compaction after it did; nil unless asked for.
	Compaction *CompactSummary
}

// Materialize writes, for every hour of the window and every table, one part that holds the rows
// of the blocks no existing part covers. It is idempotent (a second run finds every block covered
// and writes nothing), and safe when run twice at once or killed: a part is one create-only object
// named by its block set, so a race writes the same name twice and the store keeps one, and a
// killed run leaves either a whole part or none.
//
// Two runs that list an hour at different moments can write overlapping parts (one with blocks
// a and b, one with a, b and c); readers choose among them with parts.Choose, so no row is read
// twice.
func Materialize(ctx context.Context, opts MaterializeOptions) (*MaterializeSummary, error) {
	start := time.Now()
	sum := &MaterializeSummary{Rows: map[string]int{}}
	bad := badSegments{}
	cat, err := scanStore(ctx, opts.Store, opts.Window, true, bad)
	if err != nil {
		return nil, err
	}
	for _, refs := range cat.undated {
		sum.Undated += len(refs)
	}
	sum.SkippedSegments = cat.badSegments
	e, err := openEngine(ctx)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	tmp, err := os.MkdirTemp("", "lakehouse-materialize-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	cache := newPartCache(opts.CacheDir, opts.CacheMaxBytes)

	partsByHour := map[time.Time][]layout.PartRef{}
	for _, refs := range cat.parts {
		for _, ref := range refs {
			partsByHour[ref.Hour] = append(partsByHour[ref.Hour], ref)
		}
	}
	for _, hour := range cat.hours() {
		sum.Hours++
		h := hourJob{e: e, st: opts.Store, cache: cache, tmp: tmp, hour: hour, blocks: cat.blocks[hour], parts: partsByHour[hour]}
		for plan := 1; ; plan++ {
			err := h.run(ctx, sum)
			if err == nil {
				break
			}
			if bad.learn(err) {
				// A segment listed as intact was not: list the hour again without it, so that
				// its blocks come from another copy if there is one. This ends: each time leaves
				// one more segment out.
				plan--
			} else if !errors.Is(err, store.ErrNotFound) || plan == maxPlans {
				return nil, fmt.Errorf("hour %s: %w", hour.Format("2006-01-02T15"), err)
			}
			// Or a compaction rewrote a segment of the hour since the listing: list the hour
			// again, and find its blocks in the merged segment, which was durable before anything
			// was deleted. Parts written meanwhile are kept; the hour's parts are listed again.
			again, err := scanStore(ctx, opts.Store, parts.Window{Since: hour, Until: hour.Add(time.Hour)}, false, bad)
			if err != nil {
				return nil, err
			}
			for _, b := range again.badSegments {
				if !slices.ContainsFunc(sum.SkippedSegments, func(s SkippedBlock) bool { return s.Key == b.Key }) {
					sum.SkippedSegments = append(sum.SkippedSegments, b)
				}
			}
			h.blocks, h.parts = again.blocks[hour], nil
			for _, refs := range again.parts {
				h.parts = append(h.parts, refs...)
			}
		}
	}
	sum.Elapsed = time.Since(start)
	if opts.Compact {
		if sum.Compaction, err = Compact(ctx, CompactOptions{Store: opts.Store, Window: opts.Window, CacheDir: opts.CacheDir, CacheMaxBytes: opts.CacheMaxBytes}); err != nil {
			return nil, fmt.Errorf("compact: %w", err)
		}
	}
	return sum, nil
}

// hourJob materializes one hour.
type hourJob struct {
	e      *engine
	st     store.Store
	cache  *partCache
	tmp    string
	hour   time.Time
	blocks map[layout.Signal][]blockRef
	parts  []layout.PartRef
}

func (h *hourJob) run(ctx context.Context, sum *MaterializeSummary) error {
	need, err := h.uncovered(ctx, sum)
	if err != nil {
		return err
	}
	if len(need) == 0 {
		return nil
	}
	wrote := false
	l := newLoader(h.st, func(ctx context.Context, t *rows.Table, recs []arrow.RecordBatch, blockIDs []string) error {
		created, size, err := h.writePart(ctx, t, recs, blockIDs)
		if err != nil {
			return err
		}
		wrote = true
		for _, r := range recs {
			sum.Rows[t.Name] += int(r.NumRows())
		}
		sum.BytesOut += size
		if created {
			sum.PartsCreated++
		} else {
			sum.PartsDuplicate++
		}
		return nil
	})
	defer l.close()
	var all []blockRef
	for _, sig := range layout.Signals {
		all = append(all, h.blocks[sig]...)
	}
	err = l.load(ctx, all, func(ref blockRef, t *rows.Table) bool { return need[t][ref.ID] })
	if err == nil {
		err = l.finish(ctx)
	}
	if err != nil {
		return err
	}
	sum.Blocks += l.blocks
	sum.BytesIn += l.bytes
	sum.Skipped = append(sum.Skipped, l.skipped...)
	if wrote {
		sum.HoursWritten++
	}
	return nil
}

// uncovered reads the hour's parts and returns, per table, the blocks none of them covers; nil
// when the hour is up to date.
func (h *hourJob) uncovered(ctx context.Context, sum *MaterializeSummary) (map[*rows.Table]map[string]bool, error) {
	var (
		good []parts.Part
		bad  []badPart
		err  error
	)
	for plan := 1; ; plan++ {
		if good, _, bad, err = loadParts(ctx, h.e, h.st, h.cache, h.parts); err == nil {
			break
		}
		if !errors.Is(err, store.ErrNotFound) || plan == maxPlans {
			return nil, err
		}
		// A compaction replaced a part since the listing: the hour's parts are listed again, so
		// that the blocks it held are found in the bigger part rather than materialized again.
		if h.parts, err = listHourParts(ctx, h.st, h.hour); err != nil {
			return nil, err
		}
	}
	sum.BadParts = append(sum.BadParts, bad...)
	covered := map[string]map[string]bool{}
	for _, p := range good {
		if covered[p.Table] == nil {
			covered[p.Table] = map[string]bool{}
		}
		for _, id := range p.Blocks {
			covered[p.Table][id] = true
		}
	}
	need := map[*rows.Table]map[string]bool{}
	for _, t := range rows.Tables {
		for _, ref := range blocksFor(h.blocks, t) {
			if !covered[t.Name][ref.ID] {
				if need[t] == nil {
					need[t] = map[string]bool{}
				}
				need[t][ref.ID] = true
			}
		}
	}
	if len(need) == 0 {
		return nil, nil
	}
	return need, nil
}

// arrowSpan is the span of the times in a table's time column of some records.
func arrowSpan(recs []arrow.RecordBatch, t *rows.Table) parts.TimeRange {
	var min, max int64
	seen := false
	for _, r := range recs {
		idx := r.Schema().FieldIndices(t.TimeColumn)[0]
		col := r.Column(idx).(*array.Timestamp)
		for i := range col.Len() {
			if col.IsNull(i) {
				continue
			}
			v := int64(col.Value(i))
			if !seen || v < min {
				min = v
			}
			if !seen || v > max {
				max = v
			}
			seen = true
		}
	}
	if !seen {
		return parts.SpanOf(nil, nil)
	}
	return parts.SpanOf(&min, &max)
}

// writePart writes a table's rows of some blocks, as the loader hands them over, into a Parquet
// file and stores it create-only under its content address: a part of those blocks. created is
// false when a run before or beside this one wrote the same part. An hour whose rows are many
// gets several parts, which compaction merges.
func (h *hourJob) writePart(ctx context.Context, t *rows.Table, recs []arrow.RecordBatch, ids []string) (created bool, size int64, err error) {
	name := parts.Name(t.Name, ids)
	ref := layout.PartRef{Key: layout.PartKey(t.Name, h.hour, name), Table: t.Name, Hour: h.hour, Name: name}
	file := filepath.Join(h.tmp, name+layout.PartSuffix)
	var span parts.TimeRange
	if t.TimeColumn != "" {
		span = arrowSpan(recs, t)
	}
	// The loader hands the records over in the order rows.Batch.SortByTime gives (partOrder).
	const view = "_part_rows"
	if err := h.e.execOverArrow(ctx, view, t, recs, partCopySQL("SELECT * FROM "+view, file, t, ids, span)); err != nil {
		return false, 0, fmt.Errorf("write part %s: %w", file, err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return false, 0, err
	}
	os.Remove(file)
	created, err = h.st.Create(ctx, ref.Key, data, nil)
	if err != nil {
		return false, 0, storeErr(fmt.Errorf("write part %s: %w", ref.Key, err))
	}
	// The cache is a convenience: failing to fill it costs a download later, nothing more.
	h.cache.put(ref, data)
	return created, int64(len(data)), nil
}
