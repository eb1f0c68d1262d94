//go:build cgo

package lakehouse

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/ingester/server"
	lakeblocks "github.com/telemetrylake/telemetrylake/lake/blocks"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lakehouse/parts"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// TestTheSameBodyThroughTwoIngestersCountsOnceAndCompactsToOneCopy: a retry that reaches another
// ingester pod stores the same blocks twice, in two segments. `blocks list` (lake/blocks) and
// every table count them once; compaction rewrites the hour into one segment holding each block
// once, while queries loop beside it, and a compaction stopped between writing and deleting is
// finished by the next. It pins docs/contracts/storage.md §5.4 and §5.6.
func TestTheSameBodyThroughTwoIngestersCountsOnceAndCompactsToOneCopy(t *testing.T) {
	for _, b := range harness.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			storage := b.Storage(t)
			// A file per segment (S3's way, and segments.fileMode create on a file store), so that
			// both pods' flushes of one body make one segment name: this pins §5.3's naming and
			// §5.6's compaction. Open segments (the file store's default) are each pod's own and
			// are compacted once sealed: TestOpenSegmentsAnswerAsTheSameBlocksStoredAlone.
			create := server.SegmentOptions{FileMode: ingesterconfig.SegmentFileCreate}
			pods := []*lake{
				startLakeSegments(t, storage, ingesterconfig.LayoutSegments, create),
				startLakeSegments(t, storage, ingesterconfig.LayoutSegments, create),
			}
			l := pods[0]
			hour := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour)
			w := parts.Window{Since: hour, Until: hour.Add(time.Hour)}

			const services, records = 6, 5
			var bodies [][]byte
			for i := range services {
				bodies = append(bodies, logsRequest(t, fmt.Sprintf("svc-%d", i), hour.Add(time.Duration(i)*time.Minute), records))
			}
			// The same body to both pods, each flush holding only it: the two segments are the
			// same bytes, so the same name, and the store keeps one.
			post(t, pods[0].URL+"/v1/logs", bodies[0])
			post(t, pods[1].URL+"/v1/logs", bodies[0])
			if copies := harness.BlockCopies(t, l.Store); len(copies) != 1 {
				t.Fatalf("one body through two pods in flushes of its own: %v, want one block stored once", copies)
			}
			// Now as under load: pod 0 gets each body alone, pod 1 gets them all in one flush,
			// with one block more, so the same blocks sit in segments of other names.
			for _, body := range bodies[1:] {
				post(t, pods[0].URL+"/v1/logs", body)
			}
			var all []byte
			for _, body := range bodies {
				all = append(all, body...) // export requests end to end are one request
			}
			post(t, pods[1].URL+"/v1/logs", append(all, logsRequest(t, "only-on-one", hour.Add(30*time.Minute), records)...))
			const blocks = services + 1

			copies := harness.BlockCopies(t, l.Store)
			if len(copies) != blocks {
				t.Fatalf("%d block ids stored, want %d", len(copies), blocks)
			}
			twice := 0
			for _, n := range copies {
				if n == 2 {
					twice++
				}
			}
			// Pod 1 remembers the first body's block as landed and does not write it again.
			if twice != services-1 {
				t.Fatalf("%d blocks stored twice, want %d (every body both pods wrote but the first): %v", twice, services-1, copies)
			}
			listedOnce(t, l, blocks)
			countOnce := func(what string) {
				t.Helper()
				got := l.one(t, `SELECT count(*) AS n, count(DISTINCT block_id) AS blocks FROM log_entries`, windowOf(hour, 1)...)
				if got["n"] != float64(blocks*records) || got["blocks"] != float64(blocks) {
					t.Errorf("%s: log_entries has %v rows from %v blocks, want %d from %d", what, got["n"], got["blocks"], blocks*records, blocks)
				}
			}
			countOnce("before compaction")
			_, written := harness.SegmentedBlocks(t, l.Store)

			// Stopped after writing the merged segment, before deleting: both copies are there
			// and still count once.
			ctx, stop := context.WithCancel(context.Background())
			_, err := Compact(ctx, CompactOptions{Store: l.Store, Window: w, CacheDir: t.TempDir(), Grace: time.Hour,
				Progress: writerFunc(func([]byte) { stop() })})
			if err == nil {
				t.Fatal("a compaction stopped before it deleted reported success")
			}
			countOnce("after a compaction stopped before deleting")
			listedOnce(t, l, blocks)

			// Queries loop while the next compaction finishes the job.
			done := make(chan struct{})
			var wg sync.WaitGroup
			queries := 0
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-done:
						return
					default:
					}
					s, err := Open(context.Background(), QueryOptions{Store: l.Store, Window: w, CacheDir: filepath.Join(t.TempDir(), strconv.Itoa(i))})
					if err != nil {
						t.Errorf("query %d beside a compaction: %v", i, err)
						return
					}
					var n int
					if err := s.e.conn.QueryRowContext(context.Background(), `SELECT count(*) FROM log_entries`).Scan(&n); err != nil || n != blocks*records {
						t.Errorf("query %d beside a compaction saw %d rows (%v), want %d", i, n, err, blocks*records)
					}
					s.Close()
					queries = i + 1
				}
			})
			sum, err := Compact(context.Background(), CompactOptions{Store: l.Store, Window: w, CacheDir: t.TempDir(), Grace: 300 * time.Millisecond})
			time.Sleep(200 * time.Millisecond) // a query or two after the deletes
			close(done)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			seg := sum.Segments
			t.Logf("%d queries beside the compaction; segments: %+v", queries, seg)
			// The first compaction's segment holds the same blocks, so it is the result again.
			if seg.Groups != 1 || seg.Existing != 1 || seg.Created != 0 || seg.Deleted != written {
				t.Errorf("the second compaction: %+v, want one hour rewritten into the segment the first one wrote, and the %d segments the ingesters wrote deleted", seg, written)
			}
			ids, segments := harness.SegmentedBlocks(t, l.Store)
			if segments != 1 || len(ids) != blocks {
				t.Errorf("after compaction: %d segments holding %d blocks, want 1 holding %d", segments, len(ids), blocks)
			}
			for id, n := range ids {
				if n != 1 {
					t.Errorf("block %s has %d copies after compaction, want 1", id, n)
				}
			}
			countOnce("after compaction")
			listedOnce(t, l, blocks)

			again, err := Compact(context.Background(), CompactOptions{Store: l.Store, Window: w, CacheDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if s := again.Segments; s.Groups+s.Created+s.Existing+s.Deleted != 0 {
				t.Errorf("compacting a compacted hour did work: %+v", s)
			}
		})
	}
}

// listedOnce checks that lake/blocks, which `ingester blocks list` prints, lists each block once.
func listedOnce(t *testing.T, l *lake, want int) {
	t.Helper()
	found, skipped, err := lakeblocks.List(context.Background(), l.Store, lakeblocks.Filter{Signals: []layout.Signal{layout.Logs}})
	if err != nil || len(skipped) > 0 {
		t.Fatalf("listing blocks: %v, skipped %v", err, skipped)
	}
	seen := map[string]bool{}
	for _, f := range found {
		if seen[f.Ref.ID] {
			t.Errorf("block %s listed twice", f.Ref.ID)
		}
		seen[f.Ref.ID] = true
	}
	if len(found) != want {
		t.Errorf("%d blocks listed, want %d", len(found), want)
	}
}

// writerFunc is an io.Writer that calls a function: here, to stop a compaction when it says it
// is about to wait before deleting.
type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }
