package harness

import (
	"context"
	"strings"
	"testing"

	"github.com/telemetrylake/telemetrylake/lake/blocks"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/segment"
	"github.com/telemetrylake/telemetrylake/lake/store"
)

// SegmentedBlocks reads every segment in st, and every open segment's whole records
// (docs/contracts/storage.md §5.7), and counts each block id in them, so a test sees how many
// times a block landed. A segment that does not decode, or is not named by its content hash
// (§5.3), fails the test. segments counts the sealed segments.
func SegmentedBlocks(t testing.TB, st store.Store) (ids map[layout.UUID]int, segments int) {
	t.Helper()
	ids = map[layout.UUID]int{}
	err := st.List(context.Background(), layout.SegmentsPrefix+"/", func(key string) error {
		if layout.IsOpenSegmentKey(key) {
			records, err := blocks.ReadOpen(context.Background(), st, key)
			if err != nil {
				return err
			}
			for _, r := range records {
				for _, e := range r.Index.Entries {
					ids[e.ID]++
				}
			}
			return nil
		}
		if _, ok := layout.ParseSegmentKey(key); !ok {
			return nil
		}
		data, _, err := st.Get(context.Background(), key)
		if err != nil {
			return err
		}
		idx, err := segment.Decode(data)
		if err != nil {
			t.Errorf("segment %s: %v", key, err)
			return nil
		}
		if want := segment.ID(data) + layout.SegmentSuffix; !strings.HasSuffix(key, "/"+want) {
			t.Errorf("segment %s is not named by its content hash %s", key, want)
		}
		segments++
		for _, e := range idx.Entries {
			ids[e.ID]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids, segments
}

// BlockCopies counts the stored copies of every block id in both layouts: standalone objects and
// segment entries. A test of exactly-once expects 1 for each; readers count each id once
// whatever this says (lake/blocks).
func BlockCopies(t testing.TB, st store.Store) map[string]int {
	t.Helper()
	segmented, _ := SegmentedBlocks(t, st)
	ids := map[string]int{}
	for id, n := range segmented {
		ids[id.String()] += n
	}
	for _, key := range StoredKeys(t, st) {
		if ref, ok := layout.ParseBlockKey(key); ok {
			ids[ref.ID]++
		}
	}
	return ids
}
