package server

import (
	"sync"
	"testing"

	"github.com/telemetrylake/telemetrylake/test/harness"
)

func withSegments(o *Options) { o.Segments = &SegmentOptions{MaxInFlight: 2, Metadata: true} }

// With storage v2, 100 identical concurrent POSTs still store each block once (storage.md §4.5),
// and many distinct requests share flushes instead of paying a write each.
func TestSegmentsStoreEachBlockOnceAndShareFlushes(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ing := startIngester(t, b.open(t), withSegments)
			body := threeResourceLogs(t)
			const posts = 100
			var wg sync.WaitGroup
			for range posts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if s := post(t, ing.URL+"/v1/logs", "application/x-protobuf", body).Status; s != 200 {
						t.Errorf("identical post got %d", s)
					}
				}()
			}
			wg.Wait()
			ids, _ := harness.SegmentedBlocks(t, ing.Store)
			if len(ids) != 3 {
				t.Fatalf("%d distinct blocks in segments, want 3", len(ids))
			}
			for id, n := range ids {
				if n != 1 {
					t.Errorf("block %s is in %d segments, want 1", id, n)
				}
			}
			logs := map[string]string{"signal": "logs"}
			if got := ing.counter(t, "telemetrylake_ingester_blocks_written_total", logs); got != 3 {
				t.Errorf("blocks written = %v, want 3", got)
			}
			if got := ing.counter(t, "telemetrylake_ingester_blocks_duplicate_total", logs); got != 3*(posts-1) {
				t.Errorf("duplicates = %v, want %d", got, 3*(posts-1))
			}

			const distinct = 300
			for i := range distinct {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if s := post(t, ing.URL+"/v1/logs", "application/x-protobuf", numberedLogs(t, i)).Status; s != 200 {
						t.Errorf("post %d got %d", i, s)
					}
				}()
			}
			wg.Wait()
			ids, segments := harness.SegmentedBlocks(t, ing.Store)
			if len(ids) != 3+distinct {
				t.Errorf("%d blocks landed, want %d", len(ids), 3+distinct)
			}
			flushes := ing.counter(t, "telemetrylake_ingester_segment_flushes_total", map[string]string{"result": "ok"})
			t.Logf("%d requests in %v flushes and %d segments", posts+distinct, flushes, segments)
			if flushes >= posts+distinct {
				t.Errorf("%v flushes for %d requests: concurrent requests did not share them", flushes, posts+distinct)
			}
		})
	}
}
