//go:build cgo

package lakehouse

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/segment"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/lakehouse/parts"
)

// SegmentTargetBytes is the size at which compaction stops growing a segment, and leaves a
// segment at least this big as it is. Readers fetch a segment whole when they decode its blocks,
// so it bounds what one read holds in memory; at this size an hour of a busy tenant is a few
// objects, and S3's per-request cost is negligible against it.
const SegmentTargetBytes = 64 << 20

// SegmentCompaction is what the rewriting of segments did, for the closing report.
type SegmentCompaction struct {
	Groups   int // signal hours whose segments were rewritten
	Read     int // segments read whole
	Created  int // merged segments written
	Existing int // merged segments already there (a run killed before it deleted)
	Deleted  int // segments deleted, every block of each durable in another segment
	// DuplicatesDropped counts block copies left out: the same block in two segments, a retry
	// that reached another ingester pod.
	DuplicatesDropped int
	// Raced counts signal hours left alone because a segment vanished as it was read: a
	// compaction beside this one rewrote it.
	Raced int
	Bad   []SkippedBlock
}

// segmentGroup is one signal's segments of one hour.
type segmentGroup struct {
	signal    layout.Signal
	partition string
	refs      []layout.SegmentRef // sorted by key
}

// listSegmentGroups lists the window's segments and returns the signal hours that have at least
// two, in a stable order. Undated segments belong to no window and are left alone.
func listSegmentGroups(ctx context.Context, st store.Store, w parts.Window) ([]segmentGroup, error) {
	var groups []segmentGroup
	for _, sig := range layout.Signals {
		byPartition := map[string][]layout.SegmentRef{}
		for _, day := range w.Days() {
			prefix := layout.SegmentDayListPrefix(sig, day)
			err := st.List(ctx, prefix, func(key string) error {
				ref, ok := layout.ParseSegmentKey(key)
				if hour, dated := ref.PartitionTime(); ok && ref.Signal == sig && dated && w.Contains(hour) {
					byPartition[ref.Partition] = append(byPartition[ref.Partition], ref)
				}
				return nil
			})
			if err != nil {
				return nil, storeErr(fmt.Errorf("list %s in %s: %w", prefix, st, err))
			}
		}
		for p, refs := range byPartition {
			if len(refs) >= 2 {
				slices.SortFunc(refs, func(a, b layout.SegmentRef) int { return strings.Compare(a.Key, b.Key) })
				groups = append(groups, segmentGroup{signal: sig, partition: p, refs: refs})
			}
		}
	}
	slices.SortFunc(groups, func(a, b segmentGroup) int {
		return strings.Compare(string(a.signal)+"/"+a.partition, string(b.signal)+"/"+b.partition)
	})
	return groups, nil
}

// compactSegments rewrites, for every signal hour of the window with two segments or more, its
// segments smaller than SegmentTargetBytes into as few as fit, each block id once, and then
// deletes the segments it rewrote. Like Compact for parts it writes everything before it deletes
// anything, and deletes a segment only once every block of it is durable in a segment that is
// kept, so every block stays readable throughout; a reader that listed a segment it then finds
// gone lists again (Open, Materialize) and finds the merged one. A segment that is not intact is
// neither merged nor deleted.
//
// The merged segment's name is the hash of its bytes, like every segment's: a run killed between
// writing and deleting is finished by the next, which writes the same name (already there) and
// deletes.
func compactSegments(ctx context.Context, opts CompactOptions, sum *SegmentCompaction) error {
	groups, err := listSegmentGroups(ctx, opts.Store, opts.Window)
	if err != nil {
		return err
	}
	var replaced []layout.SegmentRef
	for _, g := range groups {
		r, err := rewriteSegments(ctx, opts.Store, g, sum)
		if err != nil {
			return fmt.Errorf("%s, hour %s: %w", g.signal, g.partition, err)
		}
		replaced = append(replaced, r...)
	}
	if err := opts.waitGrace(ctx, len(replaced), "segments"); err != nil {
		return err
	}
	for _, ref := range replaced {
		if err := opts.Store.Delete(ctx, ref.Key); err != nil {
			return storeErr(fmt.Errorf("delete segment %s: %w", ref.Key, err))
		}
		sum.Deleted++
	}
	return nil
}

// rewriteSegments writes the segments that replace a signal hour's small segments, and returns
// the segments they replace. Segments are taken in key order, and a block's first copy in that
// order is the one kept, as every reader chooses (layout.CompareCopies).
func rewriteSegments(ctx context.Context, st store.Store, g segmentGroup, sum *SegmentCompaction) ([]layout.SegmentRef, error) {
	type read struct {
		ref  layout.SegmentRef
		data []byte
		idx  segment.Index
	}
	var big, small []read
	for _, ref := range g.refs {
		data, _, err := st.Get(ctx, ref.Key)
		if errors.Is(err, store.ErrNotFound) {
			sum.Raced++
			return nil, nil
		}
		if err != nil {
			return nil, storeErr(fmt.Errorf("read segment %s: %w", ref.Key, err))
		}
		sum.Read++
		idx, err := segment.Decode(data)
		if err != nil {
			if !segment.IsCorrupt(err) {
				return nil, err
			}
			sum.Bad = append(sum.Bad, SkippedBlock{Key: ref.Key, Reason: err.Error()})
			continue
		}
		if len(data) >= SegmentTargetBytes {
			big = append(big, read{ref, data, idx})
		} else {
			small = append(small, read{ref, data, idx})
		}
	}
	// The blocks of segments kept as they are need no other copy.
	kept := map[layout.UUID]bool{}
	for _, r := range big {
		for _, e := range r.idx.Entries {
			kept[e.ID] = true
		}
	}
	var (
		unique  []segment.Block
		dropped int
	)
	for _, r := range small {
		for i, e := range r.idx.Entries {
			if kept[e.ID] {
				dropped++
				continue
			}
			kept[e.ID] = true
			b, err := r.idx.Block(r.data, i)
			if err != nil {
				return nil, err // Decode checked every block's checksum already
			}
			unique = append(unique, segment.Block{ID: e.ID, Meta: e.Meta(g.signal), Bytes: b})
		}
	}
	// In time order, then by id: the same blocks always make the same segments, whatever the
	// segments they came from, so a run that finds its own earlier result among its inputs
	// writes it again under the same name (already there) instead of another copy.
	slices.SortFunc(unique, func(a, b segment.Block) int {
		return cmp.Or(cmp.Compare(a.Meta.MinTime, b.Meta.MinTime), bytes.Compare(a.ID[:], b.ID[:]))
	})
	var (
		batches [][]segment.Block
		batch   []segment.Block
		size    int
	)
	for _, b := range unique {
		if size > 0 && size+len(b.Bytes) > SegmentTargetBytes {
			batches, batch, size = append(batches, batch), nil, 0
		}
		batch = append(batch, b)
		size += len(b.Bytes)
	}
	if len(batch) > 0 {
		batches = append(batches, batch)
	}
	// One small segment with nothing to drop is already what a rewrite would give.
	if len(small) == 0 || len(small) == 1 && dropped == 0 {
		return nil, nil
	}
	sum.Groups++
	sum.DuplicatesDropped += dropped
	for _, blocks := range batches {
		data, idx, err := segment.Encode(g.signal, blocks)
		if err != nil {
			return nil, err
		}
		var meta map[string]string
		if store.IsS3(st) {
			meta = idx.Meta()
		}
		key := layout.SegmentKey(g.signal, idx.MinTime, segment.ID(data))
		if ref, _ := layout.ParseSegmentKey(key); ref.Partition != g.partition {
			return nil, fmt.Errorf("merged segment %s would leave its hour %s: not written", key, g.partition)
		}
		created, err := st.Create(ctx, key, data, meta)
		if err != nil {
			return nil, storeErr(fmt.Errorf("write merged segment %s: %w", key, err))
		}
		if created {
			sum.Created++
		} else {
			sum.Existing++
		}
		// A merged segment can be named like one of its inputs (the same blocks, in the same
		// order): that one is not replaced, it is the result.
		small = slices.DeleteFunc(small, func(r read) bool { return r.ref.Key == key })
	}
	refs := make([]layout.SegmentRef, len(small))
	for i, r := range small {
		refs[i] = r.ref
	}
	return refs, nil
}
