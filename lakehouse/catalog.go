//go:build cgo

package lakehouse

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	lakeblocks "github.com/telemetrylake/telemetrylake/lake/blocks"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/segment"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/lakehouse/parts"
	"github.com/telemetrylake/telemetrylake/lakehouse/rows"
)

// StoreError is a failure to reach or read the store, as opposed to a bad block or a bad query:
// the command line answers it with exit status 3.
type StoreError struct{ Err error }

func (e *StoreError) Error() string { return e.Err.Error() }
func (e *StoreError) Unwrap() error { return e.Err }

func storeErr(err error) error {
	var se *StoreError
	if err == nil || errors.As(err, &se) || errors.Is(err, context.Canceled) {
		return err
	}
	return &StoreError{Err: err}
}

// catalog is what a listing of the store found in a window: blocks by hour and signal, undated
// blocks, and parts by table. Each block id appears once, however many objects hold it (see
// pickCopies).
type catalog struct {
	blocks  map[time.Time]map[layout.Signal][]blockRef
	undated map[layout.Signal][]blockRef
	parts   map[string][]layout.PartRef // by table name
	// badSegments are the segments left out whole because they are not intact.
	badSegments []SkippedBlock
}

// blockRef is one block the catalog found and where its bytes are: a standalone object, whose key
// is Key, or entry `entry` of the segment seg, whose key is then Key too. ID, Signal and
// Partition are the block's own either way.
type blockRef struct {
	layout.BlockRef
	seg   *segmentFile // nil for a standalone block
	entry int
}

func (r blockRef) copy() layout.BlockCopy {
	return layout.BlockCopy{Key: r.Key, InSegment: r.seg != nil, Entry: r.entry}
}

// name says where the block is, for warnings.
func (r blockRef) name() string {
	if r.seg == nil {
		return r.Key
	}
	return r.Key + " block " + r.ID
}

// segmentFile is a segment the catalog read, and its checked index: a whole object, or one record
// of an open segment (docs/contracts/storage.md §5.7), whose segment lies at [base, base+length)
// of the object and whose first block is entry first of the object's blocks.
type segmentFile struct {
	ref          layout.SegmentRef
	idx          segment.Index
	open         bool
	base, length int64
	first        int
}

// place is the block's place in the segment's index, from its place in the object.
func (f *segmentFile) place(entry int) int { return entry - f.first }

// scanStore lists the blocks, segments and parts whose hour overlaps the window, one listing per
// signal or table and day. withUndated also lists the blocks and segments that carry no time.
//
// Every segment listed has its index read (the tail of the object, readSegment) for the ids of
// its blocks; a segment whose index is not intact is left out whole and reported. The loader
// reads a segment whole, and checks every block of it, only if some of its blocks are decoded.
// A segment in known (by key, with why) was found not intact that way, after it was listed: it is
// left out as if its index had been bad.
func scanStore(ctx context.Context, st store.Store, w parts.Window, withUndated bool, known badSegments) (*catalog, error) {
	c := &catalog{
		blocks:  map[time.Time]map[layout.Signal][]blockRef{},
		undated: map[layout.Signal][]blockRef{},
		parts:   map[string][]layout.PartRef{},
	}
	// Open segments first: a seal writes its segments before it removes the open segment, so one
	// gone by the time it is read has left segments that the listings below find.
	inOpen, err := readOpenSegments(ctx, st)
	if err != nil {
		return nil, err
	}
	var found []blockRef
	var segs []layout.SegmentRef
	list := func(prefix string, fn func(key string)) error {
		err := st.List(ctx, prefix, func(key string) error { fn(key); return nil })
		if err != nil {
			return storeErr(fmt.Errorf("list %s in %s: %w", prefix, st, err))
		}
		return nil
	}
	block := func(key string) {
		if ref, ok := layout.ParseBlockKey(key); ok {
			found = append(found, blockRef{BlockRef: ref})
		}
	}
	seg := func(key string) {
		if ref, ok := layout.ParseSegmentKey(key); ok {
			segs = append(segs, ref)
		}
	}
	for _, sig := range layout.Signals {
		for _, day := range w.Days() {
			if err := list(layout.BlockDayListPrefix(sig, day), block); err != nil {
				return nil, err
			}
			if err := list(layout.SegmentDayListPrefix(sig, day), seg); err != nil {
				return nil, err
			}
		}
		if withUndated {
			if err := list(layout.UndatedBlockListPrefix(sig), block); err != nil {
				return nil, err
			}
			if err := list(layout.UndatedSegmentListPrefix(sig), seg); err != nil {
				return nil, err
			}
		}
	}
	inSegments, bad, err := readSegments(ctx, st, segs, known)
	if err != nil {
		return nil, err
	}
	found = append(found, inOpen...)
	c.badSegments = bad
	found = append(found, inSegments...)
	for _, ref := range pickCopies(found) {
		hour, dated := ref.PartitionTime()
		switch {
		case dated && w.Contains(hour):
			if c.blocks[hour] == nil {
				c.blocks[hour] = map[layout.Signal][]blockRef{}
			}
			c.blocks[hour][ref.Signal] = append(c.blocks[hour][ref.Signal], ref)
		case !dated && ref.Partition == layout.Undated && withUndated:
			c.undated[ref.Signal] = append(c.undated[ref.Signal], ref)
		}
	}
	for _, t := range rows.Tables {
		refs, err := listParts(ctx, st, t, w)
		if err != nil {
			return nil, err
		}
		if len(refs) > 0 {
			c.parts[t.Name] = refs
		}
	}
	return c, nil
}

// pickCopies keeps one copy of every block id: the standalone object if there is one, else the
// copy in the segment with the smallest key. The same block reaches two objects when a retry
// lands on another ingester pod, or when a lake moves from blocks to segments; the copies hold the
// same bytes (the id is their hash), so which one is read changes nothing but must not depend on
// listing order. The copies kept are sorted by key, then place in the segment, which makes every
// later step deterministic.
func pickCopies(refs []blockRef) []blockRef {
	picked := layout.FirstCopies(len(refs),
		func(i int) layout.BlockCopy { return refs[i].copy() },
		func(i int) string { return string(refs[i].Signal) + "/" + refs[i].ID })
	kept := make([]blockRef, len(picked))
	for j, i := range picked {
		kept[j] = refs[i]
	}
	slices.SortFunc(kept, func(a, b blockRef) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), cmp.Compare(a.entry, b.entry))
	})
	return kept
}

// readSegments reads and checks the segments, a few at a time, and returns their blocks, each
// dated by its own earliest time as a standalone block would be. A segment that is not intact is
// returned in bad, with why, and none of its blocks is.
func readSegments(ctx context.Context, st store.Store, refs []layout.SegmentRef, known badSegments) (blocks []blockRef, bad []SkippedBlock, err error) {
	files := make([]*segmentFile, len(refs))
	reasons := make([]string, len(refs))
	errs := make([]error, len(refs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(decodeWorkers(), len(refs)) {
		wg.Go(func() {
			for i := range next {
				if why, ok := known[refs[i].Key]; ok {
					reasons[i] = why
					continue
				}
				files[i], reasons[i], errs[i] = readSegment(ctx, st, refs[i])
			}
		})
	}
	for i := range refs {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, f := range files {
		switch {
		case errs[i] != nil:
			return nil, nil, errs[i]
		case f == nil:
			bad = append(bad, SkippedBlock{Key: refs[i].Key, Reason: reasons[i]})
			continue
		}
		for j, e := range f.idx.Entries {
			ref, _ := layout.ParseBlockKey(layout.BlockKey(refs[i].Signal, e.MinTime, e.ID))
			ref.Key = refs[i].Key
			blocks = append(blocks, blockRef{BlockRef: ref, seg: f, entry: j})
		}
	}
	slices.SortFunc(bad, func(a, b SkippedBlock) int { return strings.Compare(a.Key, b.Key) })
	return blocks, bad, nil
}

// readOpenSegments reads every open segment's whole records and returns their blocks, each dated
// by its own earliest time, as in any segment. An open segment is read whole: it is a file store's
// (the only store the writer keeps them on), bounded by the writer's seal size.
func readOpenSegments(ctx context.Context, st store.Store) ([]blockRef, error) {
	keys, err := lakeblocks.OpenSegmentKeys(ctx, st)
	if err != nil {
		return nil, storeErr(err)
	}
	var blocks []blockRef
	for _, key := range keys {
		records, err := lakeblocks.ReadOpen(ctx, st, key)
		if errors.Is(err, store.ErrNotFound) {
			continue // sealed since it was listed: its segments are listed after this
		}
		if err != nil {
			return nil, storeErr(err)
		}
		n := 0
		for _, r := range records {
			f := &segmentFile{
				ref: layout.SegmentRef{Key: key, Signal: r.Index.Signal},
				idx: r.Index, open: true, base: r.Offset, length: r.Length, first: n,
			}
			for _, e := range r.Index.Entries {
				ref, _ := layout.ParseBlockKey(layout.BlockKey(r.Index.Signal, e.MinTime, e.ID))
				ref.Key = key
				blocks = append(blocks, blockRef{BlockRef: ref, seg: f, entry: n})
				n++
			}
		}
	}
	return blocks, nil
}

// readSegment reads one segment's index, with one ranged read of its tail (a second one only for
// an index of more than some two thousand blocks), and checks it: the trailer, the index's
// checksum, and that the blocks it lists tile the segment. The blocks' own checksums are checked
// when the loader reads the segment whole to decode them, before any block of it is used. A
// segment that is not intact gives a nil file and why; only a failure of the store is an error.
func readSegment(ctx context.Context, st store.Store, ref layout.SegmentRef) (*segmentFile, string, error) {
	idx, err := lakeblocks.ReadIndex(ctx, st, ref.Key)
	if err != nil {
		if segment.IsCorrupt(err) {
			return nil, err.Error(), nil
		}
		return nil, "", storeErr(fmt.Errorf("read segment %s: %w", ref.Key, err))
	}
	return &segmentFile{ref: ref, idx: idx}, "", nil
}

// badSegments are segments found not intact when their blocks were read, by key, with why.
type badSegments map[string]string

// corruptSegmentError is a segment that turned out not intact when the loader read it whole to
// decode its blocks. Its index was intact when it was listed; a block of it is not. The reader
// lists again without it (badSegments), so that its blocks are read from another copy if there
// is one, and it is reported like any segment that is not intact.
type corruptSegmentError struct{ key, reason string }

func (e *corruptSegmentError) Error() string { return "segment " + e.key + ": " + e.reason }

// learn adds err's segment to bad and says whether it was news: a reader lists again only then.
func (bad badSegments) learn(err error) bool {
	var ce *corruptSegmentError
	if !errors.As(err, &ce) {
		return false
	}
	if _, seen := bad[ce.key]; seen {
		return false
	}
	bad[ce.key] = ce.reason
	return true
}

// listHourParts lists every table's parts of one hour.
func listHourParts(ctx context.Context, st store.Store, hour time.Time) ([]layout.PartRef, error) {
	var all []layout.PartRef
	for _, t := range rows.Tables {
		refs, err := listParts(ctx, st, t, parts.Window{Since: hour, Until: hour.Add(time.Hour)})
		if err != nil {
			return nil, err
		}
		all = append(all, refs...)
	}
	return all, nil
}

// listParts lists a table's parts whose hour overlaps the window, sorted by key.
func listParts(ctx context.Context, st store.Store, t *rows.Table, w parts.Window) ([]layout.PartRef, error) {
	var refs []layout.PartRef
	for _, day := range w.Days() {
		prefix := layout.PartDayListPrefix(t.Name, day)
		err := st.List(ctx, prefix, func(key string) error {
			if ref, ok := layout.ParsePartKey(key); ok && ref.Table == t.Name && w.Contains(ref.Hour) {
				refs = append(refs, ref)
			}
			return nil
		})
		if err != nil {
			return nil, storeErr(fmt.Errorf("list %s in %s: %w", prefix, st, err))
		}
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Key < refs[j].Key })
	return refs, nil
}

// hours lists the hours that have blocks, oldest first.
func (c *catalog) hours() []time.Time {
	hs := make([]time.Time, 0, len(c.blocks))
	for h := range c.blocks {
		hs = append(hs, h)
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].Before(hs[j]) })
	return hs
}

// blocksFor lists the blocks whose rows a table holds: its signal's blocks, or every block for
// processes.
func blocksFor(bySignal map[layout.Signal][]blockRef, t *rows.Table) []blockRef {
	var out []blockRef
	for _, sig := range layout.Signals {
		if t == &rows.Processes || rows.TableOf(sig) == t {
			out = append(out, bySignal[sig]...)
		}
	}
	return out
}
