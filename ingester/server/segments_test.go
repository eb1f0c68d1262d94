package server

import (
	"sync"
	"testing"

	"github.com/telemetrylake/telemetrylake/test/harness"
)

// Many distinct concurrent requests share flushes instead of paying a durable write each
// (storage.md §5.3). That identical requests store each block once is
// TestTheSameBodyPostedConcurrentlyIsStoredOnce, in both layouts.
func TestConcurrentRequestsShareSegmentFlushes(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ing := startIngester(t, b.open(t), withSegments)
			var wg sync.WaitGroup
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
			if len(ids) != distinct {
				t.Errorf("%d blocks landed, want %d", len(ids), distinct)
			}
			flushes := ing.counter(t, "telemetrylake_ingester_segment_flushes_total", map[string]string{"result": "ok"})
			t.Logf("%d requests in %v flushes and %d segments", distinct, flushes, segments)
			if flushes >= distinct {
				t.Errorf("%v flushes for %d requests: concurrent requests did not share them", flushes, distinct)
			}
		})
	}
}
