package layout

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
)

// Storage v2 packs a flush's blocks into segments (lake/segment's format), one per signal and
// block hour. The hour is the blocks' own (BlockDir's), never the arrival time, so a reader of an
// hour lists one prefix, as it does for blocks.
const (
	SegmentsPrefix = "segments"
	SegmentSuffix  = ".seg"
)

// SegmentDir is the partition directory of a segment whose blocks' earliest time is
// minTimeUnixNano (0 for undated blocks), relative to the tenant prefix.
func SegmentDir(signal Signal, minTimeUnixNano uint64) string {
	return path.Join(SegmentsPrefix, strings.TrimPrefix(BlockDir(signal, minTimeUnixNano), BlocksPrefix+"/"))
}

// SegmentKey is where a segment lives: its partition and its content hash (segment.ID).
func SegmentKey(signal Signal, minTimeUnixNano uint64, segmentID string) string {
	return path.Join(SegmentDir(signal, minTimeUnixNano), segmentID+SegmentSuffix)
}

// SegmentRef is a segment found by listing.
type SegmentRef struct {
	Key       string
	Signal    Signal
	Partition string // "YYYY-MM-DD/HH" or "undated"
	ID        string
}

// ParseSegmentKey reads a key relative to the tenant prefix; ok is false for anything that is
// not a segment.
func ParseSegmentKey(key string) (ref SegmentRef, ok bool) {
	r, ok := parsePartitioned(key, SegmentsPrefix, SegmentSuffix)
	return SegmentRef(r), ok
}

// SegmentListPrefix is where every segment of a signal lives, for listing.
func SegmentListPrefix(signal Signal) string { return listPrefix(SegmentsPrefix, signal) }

// SegmentDayListPrefix is where a signal's segments of one UTC day live, for listing.
func SegmentDayListPrefix(signal Signal, day time.Time) string {
	return listPrefix(SegmentsPrefix, signal, day.UTC().Format(dayFormat))
}

// UndatedSegmentListPrefix is where a signal's segments of undated blocks live, for listing.
func UndatedSegmentListPrefix(signal Signal) string {
	return listPrefix(SegmentsPrefix, signal, Undated)
}

// PartitionTime is the start of a dated partition's hour; ok is false for "undated".
func (r SegmentRef) PartitionTime() (t time.Time, ok bool) {
	return BlockRef{Partition: r.Partition}.PartitionTime()
}

// BlockCopy is where one copy of a block sits: a standalone object, or entry Entry of the segment
// at Key.
type BlockCopy struct {
	Key       string
	InSegment bool
	Entry     int
}

// CompareCopies orders the copies of one block as every reader must choose among them
// (docs/contracts/storage.md §5.4): a standalone block first, then segments by key, then by place
// in the segment. The copies hold the same bytes (the id is their hash), so the choice changes
// nothing a reader sees, but it must not depend on listing order.
func CompareCopies(a, b BlockCopy) int {
	if a.InSegment != b.InSegment {
		if !a.InSegment {
			return -1
		}
		return 1
	}
	return cmp.Or(strings.Compare(a.Key, b.Key), cmp.Compare(a.Entry, b.Entry))
}

// FirstCopies picks, of n stored copies of blocks, the ones every reader keeps: for each block
// (its id within its signal, block(i)), the copy CompareCopies puts first. It returns their
// indices in CompareCopies order. The same block always has the same hour in either layout, so
// the signal and id name it.
func FirstCopies(n int, copyOf func(i int) BlockCopy, block func(i int) string) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return CompareCopies(copyOf(a), copyOf(b)) })
	seen := make(map[string]bool, n)
	kept := order[:0]
	for _, i := range order {
		if b := block(i); !seen[b] {
			seen[b] = true
			kept = append(kept, i)
		}
	}
	return kept
}

// On the file store the segment writer appends each flush to an open segment of its own process
// (docs/contracts/storage.md §5.7), one file for every signal and hour it holds, and seals it
// into ordinary segments, one per signal and hour, later. Open segments live in one directory, so that a process starting up
// finds every one left behind with one listing, and so that creating one fsyncs a directory that
// holds nothing else of value. Readers list it besides the partitions they read, and place each
// block by its own time.
const (
	OpenSegmentsDir   = SegmentsPrefix + "/open"
	OpenSegmentSuffix = ".open"
)

// OpenSegmentKey names a writer's seq-th open segment. writer is unique to one process's life
// (a crashed process's successor takes its files over, never its names).
func OpenSegmentKey(writer string, seq int) string {
	return path.Join(OpenSegmentsDir, fmt.Sprintf("%s-%06d%s", writer, seq, OpenSegmentSuffix))
}

// OpenSegmentListPrefix is where every open segment lives, for listing.
func OpenSegmentListPrefix() string { return OpenSegmentsDir + "/" }

// IsOpenSegmentKey says whether a key names an open segment.
func IsOpenSegmentKey(key string) bool {
	dir, name := path.Split(key)
	return dir == OpenSegmentListPrefix() && strings.HasSuffix(name, OpenSegmentSuffix) && len(name) > len(OpenSegmentSuffix)
}
