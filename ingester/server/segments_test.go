package server

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/telemetrylake/telemetrylake/ingester/otlpwire"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/segment"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

func withSegments(o *Options) { o.Segments = &SegmentOptions{MaxInFlight: 2, Metadata: true} }

// segmentedIDs reads every segment in the store and counts each block id in it.
func segmentedIDs(t *testing.T, st store.Store) (ids map[layout.UUID]int, segments int) {
	t.Helper()
	ids = map[layout.UUID]int{}
	err := st.List(context.Background(), layout.SegmentsPrefix+"/", func(key string) error {
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
			ids, _ := segmentedIDs(t, ing.Store)
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
			ids, segments := segmentedIDs(t, ing.Store)
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

// storage.md §4.5 with segments: while SeaweedFS is down every answer is 503 with Retry-After, and
// every request that got a 200 is readable afterwards.
func TestSegmentsOnAStoreOutageAnswer503AndLoseNothingAcknowledged(t *testing.T) {
	sw := harness.StartSeaweedFS(t)
	st := harness.OpenStore(t, sw.Storage(t))
	ing := startIngester(t, st, withSegments, func(o *Options) { o.StoreTimeout = 3 * time.Second })

	var (
		mu       sync.Mutex
		acked    []layout.UUID
		statuses = map[int]int{}
		seq      int
	)
	sendOne := func() response {
		mu.Lock()
		seq++
		n := seq
		mu.Unlock()
		body := numberedLogs(t, n)
		resp := post(t, ing.URL+"/v1/logs", "application/x-protobuf", body)
		mu.Lock()
		defer mu.Unlock()
		statuses[resp.Status]++
		if resp.Status == http.StatusOK {
			blocks, _ := otlpwire.Split(layout.Logs, body)
			for _, b := range blocks {
				id, _ := layout.BlockAddress(b.Meta, b.Bytes)
				acked = append(acked, id)
			}
		}
		return resp
	}
	stop := make(chan struct{})
	var senders sync.WaitGroup
	for range 4 {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for {
				select {
				case <-stop:
					return
				default:
					sendOne()
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	waitFor(t, 10*time.Second, "some acknowledged requests", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) > 20 })
	sw.Stop(t)
	var outage response
	waitFor(t, 15*time.Second, "a 503 while the store is down", func() bool {
		outage = sendOne()
		return outage.Status == http.StatusServiceUnavailable
	})
	if ra, err := strconv.Atoi(outage.Header.Get("Retry-After")); err != nil || ra <= 0 {
		t.Errorf("503 without integer Retry-After: %q", outage.Header.Get("Retry-After"))
	}
	sw.Start(t)
	waitFor(t, 30*time.Second, "a 200 after recovery", func() bool { return sendOne().Status == http.StatusOK })
	close(stop)
	senders.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("answers during the test: %v", statuses)
	ids, _ := segmentedIDs(t, st)
	for _, id := range acked {
		if ids[id] == 0 {
			t.Errorf("acknowledged block %s is in no segment", id)
		}
	}
	for status := range statuses {
		if status != http.StatusOK && status != http.StatusServiceUnavailable {
			t.Errorf("got %d answers of %d: an outage must only ever give 503", statuses[status], status)
		}
	}
}
