// Package blocks finds the blocks of a lake in both layouts, standalone objects (blocks/) and
// segments (segments/), and counts each block id once per signal and hour, as every reader of
// the lake must (docs/contracts/storage.md §5.4). `ingester blocks`, the tests' readers and the
// e2e read a lake through it; the lakehouse applies the same rule with its own parallel reads.
package blocks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/segment"
	"github.com/telemetrylake/telemetrylake/lake/store"
)

// Filter says which blocks a lister wants. The zero Filter wants every block of every signal.
type Filter struct {
	Signals []layout.Signal // nil: every signal
	From    time.Time       // zero: every partition; else dated partitions whose hour ends after it
	ID      string          // "": every block
}

func (f Filter) signals() []layout.Signal {
	if f.Signals == nil {
		return layout.Signals
	}
	return f.Signals
}

func (f Filter) partition(p string) bool {
	if f.From.IsZero() {
		return true
	}
	// An undated block cannot be placed in time, so a time filter leaves it out.
	hour, dated := layout.BlockRef{Partition: p}.PartitionTime()
	return dated && !hour.Add(time.Hour).Before(f.From)
}

func (f Filter) keep(ref layout.BlockRef) bool {
	return f.partition(ref.Partition) && (f.ID == "" || ref.ID == f.ID)
}

// Found is one block as the lister found it: a standalone object, or an entry of a segment.
type Found struct {
	// Ref is the block's signal, partition and id; for a block in a segment, Key is the segment's.
	Ref layout.BlockRef
	// Segment is the block's index entry, nil for a standalone block.
	Segment *segment.Entry
	// Entry is the block's place in its segment's index.
	Entry int
}

func (f Found) copy() layout.BlockCopy {
	return layout.BlockCopy{Key: f.Ref.Key, InSegment: f.Segment != nil, Entry: f.Entry}
}

// Skipped is a segment left out whole because it is not intact, and why.
type Skipped struct {
	Key, Reason string
}

// List lists the blocks the filter keeps, each id once per signal and partition: the copy
// layout.CompareCopies puts first, so every run and every reader picks the same one. They come
// sorted by signal, partition and id. A segment whose index is not intact is left out whole and
// returned in skipped; only a failure of the store is an error.
//
// Of each segment only the index is read (ReadIndex), so listing a lake of big compacted
// segments reads little; a block's own checksum is checked when it is read (Read, Bytes).
func List(ctx context.Context, st store.Store, f Filter) (found []Found, skipped []Skipped, err error) {
	// Open segments first: a seal writes its segments before it removes the open segment, so an
	// open segment gone by the time it is read has left segments that the listing below finds.
	inOpen, err := listOpen(ctx, st, f)
	if err != nil {
		return nil, nil, err
	}
	var standalone, segmented []Found
	var segments []layout.SegmentRef
	for _, sig := range f.signals() {
		err := st.List(ctx, layout.BlockListPrefix(sig), func(key string) error {
			if ref, ok := layout.ParseBlockKey(key); ok && f.keep(ref) {
				standalone = append(standalone, Found{Ref: ref})
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("list %s in %s: %w", layout.BlockListPrefix(sig), st, err)
		}
		err = st.List(ctx, layout.SegmentListPrefix(sig), func(key string) error {
			if ref, ok := layout.ParseSegmentKey(key); ok && f.partition(ref.Partition) {
				segments = append(segments, ref)
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("list %s in %s: %w", layout.SegmentListPrefix(sig), st, err)
		}
	}
	slices.SortFunc(segments, func(a, b layout.SegmentRef) int { return strings.Compare(a.Key, b.Key) })
	for _, seg := range segments {
		idx, err := ReadIndex(ctx, st, seg.Key)
		if err != nil {
			if !segment.IsCorrupt(err) {
				return nil, nil, fmt.Errorf("read segment %s in %s: %w", seg.Key, st, err)
			}
			skipped = append(skipped, Skipped{Key: seg.Key, Reason: err.Error()})
			continue
		}
		for i := range idx.Entries {
			ref := layout.BlockRef{Key: seg.Key, Signal: seg.Signal, Partition: seg.Partition, ID: idx.Entries[i].ID.String()}
			if f.keep(ref) {
				segmented = append(segmented, Found{Ref: ref, Segment: &idx.Entries[i], Entry: i})
			}
		}
	}
	return onePerID(append(append(standalone, segmented...), inOpen...)), skipped, nil
}

// OpenSegmentKeys lists the keys of the store's open segments (docs/contracts/storage.md §5.7).
// A reader lists them before the partitions, so that a segment sealed meanwhile is found in one
// place or the other; one that is gone when read was sealed (store.ErrNotFound).
func OpenSegmentKeys(ctx context.Context, st store.Store) ([]string, error) {
	var keys []string
	err := st.List(ctx, layout.OpenSegmentListPrefix(), func(key string) error {
		if layout.IsOpenSegmentKey(key) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s in %s: %w", layout.OpenSegmentListPrefix(), st, err)
	}
	return keys, nil
}

// listOpen lists the blocks the filter keeps in the open segments (docs/contracts/storage.md
// §5.7), each placed in the partition of its own time, as in a sealed segment. Its Segment entry
// locates the block in the open segment itself, so Read and Bytes work as for a segment.
func listOpen(ctx context.Context, st store.Store, f Filter) ([]Found, error) {
	keys, err := OpenSegmentKeys(ctx, st)
	if err != nil {
		return nil, err
	}
	var found []Found
	for _, key := range keys {
		records, err := ReadOpen(ctx, st, key)
		if errors.Is(err, store.ErrNotFound) {
			continue // sealed since it was listed: its segments are listed after this
		}
		if err != nil {
			return nil, err
		}
		n := 0
		for _, r := range records {
			if !slices.Contains(f.signals(), r.Index.Signal) {
				n += len(r.Index.Entries)
				continue
			}
			for _, e := range r.Index.Entries {
				ref, _ := layout.ParseBlockKey(layout.BlockKey(r.Index.Signal, e.MinTime, e.ID))
				ref.Key = key
				e.Offset += uint64(r.Offset)
				if f.keep(ref) {
					found = append(found, Found{Ref: ref, Segment: &e, Entry: n})
				}
				n++
			}
		}
	}
	return found, nil
}

// ReadOpen reads an open segment whole and returns its whole records, each checked as a segment
// is (segment.ScanOpen). What follows the last whole record is left out, never reported: it is a
// write in progress, or one torn by a crash, and was never acknowledged. A missing key is
// store.ErrNotFound: the open segment was sealed since it was listed.
func ReadOpen(ctx context.Context, st store.Store, key string) ([]segment.Record, error) {
	data, _, err := st.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read open segment %s in %s: %w", key, st, err)
	}
	records, _, _ := segment.ScanOpen(data)
	return records, nil
}

// onePerID keeps the copy of each block that every reader keeps (layout.FirstCopies), sorted by
// signal, partition and id.
func onePerID(all []Found) []Found {
	kept := layout.FirstCopies(len(all),
		func(i int) layout.BlockCopy { return all[i].copy() },
		func(i int) string { return string(all[i].Ref.Signal) + "/" + all[i].Ref.ID })
	out := make([]Found, len(kept))
	for j, i := range kept {
		out[j] = all[i]
	}
	slices.SortStableFunc(out, func(a, b Found) int {
		if c := strings.Compare(string(a.Ref.Signal), string(b.Ref.Signal)); c != 0 {
			return c
		}
		if c := strings.Compare(a.Ref.Partition, b.Ref.Partition); c != 0 {
			return c
		}
		return strings.Compare(a.Ref.ID, b.Ref.ID)
	})
	return out
}

// Read returns a found block's bytes: a whole Export<Signal>ServiceRequest of one resource
// entry. A block in a segment is fetched alone, with a ranged read, and checked against its
// index entry's crc32c.
func Read(ctx context.Context, st store.Store, f Found) ([]byte, error) {
	if f.Segment == nil {
		object, _, err := st.Get(ctx, f.Ref.Key)
		return object, err
	}
	b, _, err := st.GetRange(ctx, f.Ref.Key, int64(f.Segment.Offset), int64(f.Segment.Length))
	if err != nil {
		return nil, err
	}
	if err := f.Segment.Check(b); err != nil {
		return nil, fmt.Errorf("block %s in segment %s: %w", f.Ref.ID, f.Ref.Key, err)
	}
	return b, nil
}

// ReadIndex reads a segment's index with one ranged read of its tail (a second only for an index
// larger than segment.TailSize) and checks it (segment.ReadIndex): the trailer, the index's
// crc32c, and that the blocks it lists tile the segment.
func ReadIndex(ctx context.Context, st store.Store, key string) (segment.Index, error) {
	tail, size, err := st.GetRange(ctx, key, -segment.TailSize, 0)
	if err != nil {
		return segment.Index{}, err
	}
	return segment.ReadIndex(&rangeReader{ctx: ctx, st: st, key: key, tail: tail, tailAt: size - int64(len(tail))}, size)
}

// rangeReader reads an object through ranged reads, its tail from what was already fetched.
type rangeReader struct {
	ctx    context.Context
	st     store.Store
	key    string
	tail   []byte
	tailAt int64 // where tail starts in the object
}

func (r *rangeReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.tailAt && off+int64(len(p)) <= r.tailAt+int64(len(r.tail)) {
		return copy(p, r.tail[off-r.tailAt:]), nil
	}
	data, _, err := r.st.GetRange(r.ctx, r.key, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	n := copy(p, data)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Bytes cuts the block's bytes out of the object that holds it, the block itself or its segment,
// checked against its index entry's crc32c when it sits in a segment.
func (f Found) Bytes(object []byte) ([]byte, error) {
	if f.Segment == nil {
		return object, nil
	}
	b, err := segment.Index{Entries: []segment.Entry{*f.Segment}}.Block(object, 0)
	if err != nil {
		return nil, fmt.Errorf("block %s in segment %s: %w", f.Ref.ID, f.Ref.Key, err)
	}
	return b, nil
}
