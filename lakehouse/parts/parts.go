// Package parts holds the rules of the lakehouse's materialized data: how a part is named, what
// it records about itself, and which parts a reader uses so that every block's rows are read
// exactly once. Where a part lives is the lake's layout (layout.PartKey). It is pure Go (no
// DuckDB, no I/O) so that these rules are table-tested on their own. It must never choose a
// part by anything that can differ between two readers, such as listing order or arrival time.
//
// A part is one Parquet file of one table that holds the rows of an explicit set of blocks of one
// hour partition. It is named by a hash of that set, so two materializations of the same blocks
// race onto one name and the store's create-only write keeps one; and it lists the set in its
// Parquet key-value metadata, so a reader knows which blocks it covers without decoding them.
package parts

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// Parquet key-value metadata that every part carries.
const (
	MetaFormat = "telemetrylake.format"
	MetaTable  = "telemetrylake.table"
	// MetaBlocks is the part's block set: block ids, sorted, joined by commas.
	MetaBlocks = "telemetrylake.blocks"
	// MetaTimes is the span of the part's row times (see TimeRange.String). A reader needs no
	// time filter for a part whose rows all fall inside its window, and the filter is most of
	// a simple query's cost. Parts written before it existed lack it and are always filtered.
	MetaTimes = "telemetrylake.times"
	// FormatV1 names this layout and the tables' columns as rows.Tables defines them. A change of
	// the rows a block gives must change it, so that new parts never share a name with old ones.
	FormatV1 = "lakehouse-part/v1"
)

// Name is the content address of a part: a hash of its format, table and block set. The order
// of ids does not matter.
func Name(table string, blockIDs []string) string {
	ids := slices.Clone(blockIDs)
	slices.Sort(ids)
	h := sha256.New()
	h.Write([]byte(FormatV1 + "\x1f" + table + "\x1f"))
	h.Write([]byte(strings.Join(ids, ",")))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// JoinBlocks renders a block set for MetaBlocks.
func JoinBlocks(blockIDs []string) string {
	ids := slices.Clone(blockIDs)
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

// SplitBlocks reads MetaBlocks.
func SplitBlocks(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// Part is a part and the blocks it covers, as its metadata lists them.
type Part struct {
	layout.PartRef
	Blocks []string
	Times  TimeRange
}

// TimeRange is the span of a part's row times. Rows without a time do not count: every window
// keeps them.
type TimeRange struct {
	Known    bool // the part recorded its span
	Min, Max time.Time
	// Untimed: no row of the part has a time.
	Untimed bool
}

// SpanOf is the TimeRange of rows whose earliest and latest times, in unix nanoseconds, are min
// and max; nil for both when no row has a time.
func SpanOf(min, max *int64) TimeRange {
	if min == nil || max == nil {
		return TimeRange{Known: true, Untimed: true}
	}
	return TimeRange{Known: true, Min: time.Unix(0, *min).UTC(), Max: time.Unix(0, *max).UTC()}
}

// String renders a known range for MetaTimes: "<min>,<max>" in unix nanoseconds, or "" when no
// row has a time.
func (r TimeRange) String() string {
	if r.Untimed {
		return ""
	}
	return strconv.FormatInt(r.Min.UnixNano(), 10) + "," + strconv.FormatInt(r.Max.UnixNano(), 10)
}

// ParseTimeRange reads MetaTimes. Anything it cannot read is an unknown range, which only costs
// a reader its filter.
func ParseTimeRange(s string) TimeRange {
	if s == "" {
		return TimeRange{Known: true, Untimed: true}
	}
	lo, hi, ok := strings.Cut(s, ",")
	min, err1 := strconv.ParseInt(lo, 10, 64)
	max, err2 := strconv.ParseInt(hi, 10, 64)
	if !ok || err1 != nil || err2 != nil || min > max {
		return TimeRange{}
	}
	return SpanOf(&min, &max)
}

// Within says whether every timed row of the range is inside the window, so that a reader of the
// window can take the part's rows without filtering them.
func (r TimeRange) Within(w Window) bool {
	return r.Known && (r.Untimed || (!r.Min.Before(w.Since) && r.Max.Before(w.Until)))
}

// Selection is a part a reader reads: whole, or only the rows of some of its blocks.
type Selection struct {
	Part Part
	// Only lists the blocks to read, sorted, when the part shares blocks with a part chosen
	// before it; nil means every block of the part.
	Only []string
}

// Choose picks, from parts of one table, which to read so that each block is read from exactly
// one part. Bigger parts come first (a compacted part beats the parts it replaces), then names
// break ties, so every reader makes the same choice from the same listing. A part that overlaps
// the ones chosen before it is read only for its other blocks, and skipped when it has none.
// covered is every block the selections read.
func Choose(candidates []Part) (chosen []Selection, covered map[string]bool) {
	order := slices.Clone(candidates)
	slices.SortFunc(order, func(a, b Part) int {
		if len(a.Blocks) != len(b.Blocks) {
			return len(b.Blocks) - len(a.Blocks)
		}
		return strings.Compare(a.Name, b.Name)
	})
	covered = map[string]bool{}
	for _, p := range order {
		var fresh []string
		for _, id := range p.Blocks {
			if !covered[id] {
				fresh = append(fresh, id)
			}
		}
		if len(fresh) == 0 {
			continue
		}
		sel := Selection{Part: p}
		if len(fresh) < len(p.Blocks) {
			slices.Sort(fresh)
			sel.Only = fresh
		}
		for _, id := range fresh {
			covered[id] = true
		}
		chosen = append(chosen, sel)
	}
	return chosen, covered
}

// Merge is the compaction of one table's parts of one hour: one part that holds the union of their
// block sets, named by it like any other part, which replaces them.
type Merge struct {
	Name   string
	Blocks []string // the union, sorted
	// From is where the merged part's rows come from: every block from exactly one part.
	From []Selection
	// Exists is set when one of the parts already holds the union (a compaction killed before it
	// deleted, or one that ran beside this one): nothing needs writing, only deleting.
	Exists bool
	// Replaced lists the parts to delete once the merged part is durable: every part but the
	// merged one.
	Replaced []Part
}

// PlanMerge plans the compaction of parts, which must be one table's parts of one hour.
func PlanMerge(table string, group []Part) Merge {
	from, covered := Choose(group)
	m := Merge{From: from}
	for id := range covered {
		m.Blocks = append(m.Blocks, id)
	}
	slices.Sort(m.Blocks)
	m.Name = Name(table, m.Blocks)
	for _, p := range group {
		if p.Name == m.Name {
			m.Exists = true
			continue
		}
		m.Replaced = append(m.Replaced, p)
	}
	return m
}

// Window is a half-open time range [Since, Until).
type Window struct {
	Since, Until time.Time
}

// Hours lists the start of every UTC hour that overlaps the window, oldest first.
func (w Window) Hours() []time.Time {
	var hours []time.Time
	for h := w.Since.UTC().Truncate(time.Hour); h.Before(w.Until); h = h.Add(time.Hour) {
		hours = append(hours, h)
	}
	return hours
}

// Days lists the start of every UTC day that overlaps the window, oldest first.
func (w Window) Days() []time.Time {
	var days []time.Time
	for _, h := range w.Hours() {
		d := time.Date(h.Year(), h.Month(), h.Day(), 0, 0, 0, 0, time.UTC)
		if len(days) == 0 || !days[len(days)-1].Equal(d) {
			days = append(days, d)
		}
	}
	return days
}

// Contains says whether an hour partition overlaps the window.
func (w Window) Contains(hour time.Time) bool {
	return hour.Before(w.Until) && hour.Add(time.Hour).After(w.Since)
}
