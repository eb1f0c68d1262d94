package parts

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// TestNameIsTheSameForTheSameSetInAnyOrder pins docs/contracts/lakehouse.md §2: a part's name.
func TestNameIsTheSameForTheSameSetInAnyOrder(t *testing.T) {
	a := Name("log_entries", []string{"b", "a", "c"})
	if b := Name("log_entries", []string{"c", "b", "a"}); a != b {
		t.Errorf("same set, different names: %s, %s", a, b)
	}
	if b := Name("log_entries", []string{"a", "b"}); a == b {
		t.Error("a different set got the same name")
	}
	if b := Name("otel_spans", []string{"a", "b", "c"}); a == b {
		t.Error("another table's part of the same blocks got the same name")
	}
	if len(a) != 32 {
		t.Errorf("name %q is not 32 hex digits", a)
	}
}

func part(name string, blocks ...string) Part {
	return Part{PartRef: layout.PartRef{Name: name}, Blocks: blocks}
}

// TestChooseReadsEveryBlockFromExactlyOnePart pins docs/contracts/lakehouse.md §2: which part a
// reader reads.
func TestChooseReadsEveryBlockFromExactlyOnePart(t *testing.T) {
	cases := []struct {
		name  string
		parts []Part
		want  []Selection
	}{
		{
			name:  "disjoint parts are all read whole",
			parts: []Part{part("p2", "c"), part("p1", "a", "b")},
			want:  []Selection{{Part: part("p1", "a", "b")}, {Part: part("p2", "c")}},
		},
		{
			name:  "a compacted part wins over the parts it replaces, which are skipped",
			parts: []Part{part("small1", "a", "b"), part("big", "a", "b", "c", "d"), part("small2", "c", "d")},
			want:  []Selection{{Part: part("big", "a", "b", "c", "d")}},
		},
		{
			name:  "a part overlapping a chosen one is read only for its other blocks",
			parts: []Part{part("x", "a", "b"), part("y", "b", "c")},
			want:  []Selection{{Part: part("x", "a", "b")}, {Part: part("y", "b", "c"), Only: []string{"c"}}},
		},
		{
			name:  "two parts of the same size and overlap: the name decides, whatever the listing order",
			parts: []Part{part("z", "a", "b"), part("m", "b", "c")},
			want:  []Selection{{Part: part("m", "b", "c")}, {Part: part("z", "a", "b"), Only: []string{"a"}}},
		},
		{
			name:  "a part with no blocks is never read",
			parts: []Part{part("empty")},
			want:  nil,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, covered := Choose(c.parts)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Choose:\n got %+v\nwant %+v", got, c.want)
			}
			reads := map[string]int{}
			for _, s := range got {
				ids := s.Only
				if ids == nil {
					ids = s.Part.Blocks
				}
				for _, id := range ids {
					reads[id]++
				}
			}
			for _, p := range c.parts {
				for _, id := range p.Blocks {
					if reads[id] != 1 || !covered[id] {
						t.Errorf("block %s is read %d times (covered %v)", id, reads[id], covered[id])
					}
				}
			}
		})
	}
}

// TestPlanMergeReplacesEveryPartByOneThatHoldsTheirUnion pins docs/contracts/lakehouse.md §2:
// compaction.
func TestPlanMergeReplacesEveryPartByOneThatHoldsTheirUnion(t *testing.T) {
	named := func(blocks ...string) Part {
		return Part{PartRef: layout.PartRef{Name: Name("log_entries", blocks)}, Blocks: blocks}
	}
	names := func(ps []Part) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		slices.Sort(out)
		return out
	}
	cases := []struct {
		name         string
		group        []Part
		wantBlocks   []string
		wantExists   bool
		wantReplaced []Part
	}{
		{
			name:         "disjoint parts merge into a new part",
			group:        []Part{named("c"), named("a", "b")},
			wantBlocks:   []string{"a", "b", "c"},
			wantReplaced: []Part{named("c"), named("a", "b")},
		},
		{
			name:         "overlapping parts merge into their union",
			group:        []Part{named("a", "b"), named("b", "c")},
			wantBlocks:   []string{"a", "b", "c"},
			wantReplaced: []Part{named("a", "b"), named("b", "c")},
		},
		{
			name:         "when the union is already there, it stays and the rest go",
			group:        []Part{named("a"), named("a", "b", "c"), named("b", "c")},
			wantBlocks:   []string{"a", "b", "c"},
			wantExists:   true,
			wantReplaced: []Part{named("a"), named("b", "c")},
		},
		{
			name:       "one part is already merged",
			group:      []Part{named("a", "b")},
			wantBlocks: []string{"a", "b"},
			wantExists: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := PlanMerge("log_entries", c.group)
			if !slices.Equal(m.Blocks, c.wantBlocks) || m.Name != Name("log_entries", c.wantBlocks) {
				t.Errorf("merged part %s of %v, want the union %v", m.Name, m.Blocks, c.wantBlocks)
			}
			if m.Exists != c.wantExists {
				t.Errorf("Exists = %v, want %v", m.Exists, c.wantExists)
			}
			if got, want := names(m.Replaced), names(c.wantReplaced); !slices.Equal(got, want) {
				t.Errorf("Replaced = %v, want %v", got, want)
			}
			read := map[string]int{}
			for _, s := range m.From {
				ids := s.Only
				if ids == nil {
					ids = s.Part.Blocks
				}
				for _, id := range ids {
					read[id]++
				}
			}
			for _, id := range c.wantBlocks {
				if read[id] != 1 {
					t.Errorf("block %s is read %d times into the merged part, want once", id, read[id])
				}
			}
		})
	}
}

func TestWindowHoursAndDays(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	w := Window{Since: at("2026-01-01T22:30:00Z"), Until: at("2026-01-02T01:00:00Z")}
	want := []time.Time{at("2026-01-01T22:00:00Z"), at("2026-01-01T23:00:00Z"), at("2026-01-02T00:00:00Z")}
	if got := w.Hours(); !reflect.DeepEqual(got, want) {
		t.Errorf("Hours = %v, want %v", got, want)
	}
	if got := w.Days(); !reflect.DeepEqual(got, []time.Time{at("2026-01-01T00:00:00Z"), at("2026-01-02T00:00:00Z")}) {
		t.Errorf("Days = %v", got)
	}
	if !w.Contains(at("2026-01-01T22:00:00Z")) || w.Contains(at("2026-01-02T01:00:00Z")) || w.Contains(at("2026-01-01T21:00:00Z")) {
		t.Error("Contains is wrong at the window's edges")
	}
}

// TestTimeRangeSaysWhenAWindowNeedsNoFilter pins docs/contracts/lakehouse.md §2:
// telemetrylake.times.
func TestTimeRangeSaysWhenAWindowNeedsNoFilter(t *testing.T) {
	hour := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	w := Window{Since: hour, Until: hour.Add(time.Hour)}
	ns := func(d time.Duration) *int64 { v := hour.Add(d).UnixNano(); return &v }
	cases := []struct {
		name   string
		r      TimeRange
		within bool
	}{
		{"inside", SpanOf(ns(0), ns(59*time.Minute)), true},
		{"the last nanosecond", SpanOf(ns(0), ns(time.Hour-1)), true},
		{"ends at the window's end, which is outside", SpanOf(ns(0), ns(time.Hour)), false},
		{"starts before", SpanOf(ns(-1), ns(time.Minute)), false},
		{"no row has a time", SpanOf(nil, nil), true},
		{"unknown: a part from before ranges were recorded", TimeRange{}, false},
	}
	for _, c := range cases {
		if got := c.r.Within(w); got != c.within {
			t.Errorf("%s: Within = %v, want %v", c.name, got, c.within)
		}
		if !c.r.Known {
			continue
		}
		if back := ParseTimeRange(c.r.String()); back != c.r {
			t.Errorf("%s: %q parses back as %+v, want %+v", c.name, c.r.String(), back, c.r)
		}
	}
	for _, bad := range []string{"1", "x,2", "5,4", "1,2,3"} {
		if r := ParseTimeRange(bad); r.Known {
			t.Errorf("ParseTimeRange(%q) = %+v, want unknown", bad, r)
		}
	}
}
