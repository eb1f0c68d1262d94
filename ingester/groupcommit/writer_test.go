package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/segment"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// gatedStore is a real store whose writes can be held at a gate and counted, so a test can make
// a flush last as long as it needs to see what the next flush gathers. It changes no outcome.
type gatedStore struct {
	store.Store
	creates atomic.Int64
	mu      sync.Mutex
	gate    chan struct{} // nil: writes pass
	failing error         // non-nil: writes fail with it
}

func (g *gatedStore) Create(ctx context.Context, key string, data []byte, meta map[string]string) (bool, error) {
	g.creates.Add(1)
	g.mu.Lock()
	gate, failing := g.gate, g.failing
	g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if failing != nil {
		return false, failing
	}
	return g.Store.Create(ctx, key, data, meta)
}

func (g *gatedStore) hold() chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate = make(chan struct{})
	return g.gate
}

func (g *gatedStore) release(gate chan struct{}) {
	g.mu.Lock()
	g.gate = nil
	g.mu.Unlock()
	close(gate)
}

func fileStore(t *testing.T) *gatedStore {
	t.Helper()
	st, err := store.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &gatedStore{Store: st}
}

var hour = uint64(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).UnixNano())

// block makes a block of n bytes; the bytes are a valid one-entry logs export request, so the
// segments it lands in decode as OTLP.
func block(name string, at uint64, n int) segment.Block {
	body := []byte(fmt.Sprintf("%-*s", n, name))
	// field 1 (resource_logs), then a ResourceLogs whose only field is an unknown bytes field 99.
	entry := append([]byte{0x9a, 0x06, byte(len(body))}, body...)
	raw := append([]byte{0x0a, byte(len(entry))}, entry...)
	return segment.Block{ID: layout.BlockID(layout.Logs, raw), Bytes: raw, Meta: layout.BlockMeta{
		Signal: layout.Logs, Records: 1, MinTime: at, MaxTime: at, ProcessID: layout.UUID{1},
	}}
}

func noRecord(t *testing.T) ProcessRecord {
	return func(int) ([]byte, error) { return []byte(`{"process_id":"test"}`), nil }
}

func (w *Writer) pendingBlocks() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}

func TestRequestsArrivingDuringAFlushShareTheNextOne(t *testing.T) {
	st := fileStore(t)
	w := New(Config{Store: st})
	defer w.Close(context.Background())
	ctx := context.Background()

	gate := st.hold()
	first := make(chan error, 1)
	go func() { _, err := w.Write(ctx, []segment.Block{block("first", hour, 10)}, noRecord(t)); first <- err }()
	harness.WaitFor(t, 5*time.Second, "the first flush to reach the store", func() bool { return st.creates.Load() >= 1 })

	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := w.Write(ctx, []segment.Block{block(fmt.Sprintf("b%d", i), hour, 100)}, noRecord(t))
			if err == nil && res.Stored != 1 {
				err = fmt.Errorf("Stored = %d, want 1", res.Stored)
			}
			errs <- err
		}()
	}
	harness.WaitFor(t, 5*time.Second, "all requests to be pending", func() bool { return w.pendingBlocks() == n+1 })
	st.release(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	ids, segments := harness.SegmentedBlocks(t, st)
	if len(ids) != n+1 {
		t.Errorf("%d blocks landed, want %d", len(ids), n+1)
	}
	// The first flush: one segment and the process record; the second: the 50 blocks together.
	if segments != 2 {
		t.Errorf("%d segments, want 2: the 50 requests that waited should share one flush", segments)
	}
}

func TestConcurrentIdenticalRequestsStoreTheBlockOnce(t *testing.T) {
	st := fileStore(t)
	w := New(Config{Store: st})
	defer w.Close(context.Background())
	b := block("same", hour, 64)
	var stored, dups atomic.Int64
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := w.Write(context.Background(), []segment.Block{b}, noRecord(t))
			if err != nil {
				t.Error(err)
			}
			stored.Add(int64(res.Stored))
			dups.Add(int64(res.Duplicates))
		}()
	}
	wg.Wait()
	if stored.Load() != 1 || dups.Load() != 99 {
		t.Errorf("stored %d, duplicates %d; want 1 and 99", stored.Load(), dups.Load())
	}
	ids, _ := harness.SegmentedBlocks(t, st)
	if len(ids) != 1 || ids[b.ID] != 1 {
		t.Errorf("the block landed %d times in %d ids", ids[b.ID], len(ids))
	}
	before := st.creates.Load()
	res, err := w.Write(context.Background(), []segment.Block{b}, noRecord(t))
	if err != nil || res.Duplicates != 1 || st.creates.Load() != before {
		t.Errorf("a repeat of a landed block: %+v, %v, %d writes; want a duplicate with no write", res, err, st.creates.Load()-before)
	}
}

func TestAFailedFlushFailsEveryRequestInItAndARetryLands(t *testing.T) {
	st := fileStore(t)
	w := New(Config{Store: st})
	defer w.Close(context.Background())
	outage := errors.New("the store is down")
	st.mu.Lock()
	st.failing = outage
	st.mu.Unlock()

	b := block("retried", hour, 32)
	if _, err := w.Write(context.Background(), []segment.Block{b}, noRecord(t)); !errors.Is(err, outage) {
		t.Fatalf("Write during an outage: %v, want the store's error", err)
	}
	if ids, _ := harness.SegmentedBlocks(t, st); len(ids) != 0 {
		t.Fatalf("a failed flush left %d blocks behind", len(ids))
	}
	st.mu.Lock()
	st.failing = nil
	st.mu.Unlock()
	res, err := w.Write(context.Background(), []segment.Block{b}, noRecord(t))
	if err != nil || res.Stored != 1 {
		t.Fatalf("the retry: %+v, %v; want it stored (a failed block is not remembered as landed)", res, err)
	}
	if ids, _ := harness.SegmentedBlocks(t, st); ids[b.ID] != 1 {
		t.Errorf("after the retry the block landed %d times", ids[b.ID])
	}
}

func TestABatchClosesAtItsByteBound(t *testing.T) {
	st := fileStore(t)
	w := New(Config{Store: st, MaxBatchBytes: 350})
	defer w.Close(context.Background())
	gate := st.hold()
	go w.Write(context.Background(), []segment.Block{block("first", hour, 10)}, noRecord(t))
	harness.WaitFor(t, 5*time.Second, "the first flush", func() bool { return st.creates.Load() >= 1 })
	var wg sync.WaitGroup
	for i := range 9 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.Write(context.Background(), []segment.Block{block(fmt.Sprintf("b%d", i), hour, 100)}, noRecord(t)); err != nil {
				t.Error(err)
			}
		}()
	}
	harness.WaitFor(t, 5*time.Second, "all pending", func() bool { return w.pendingBlocks() == 10 })
	st.release(gate)
	wg.Wait()
	// Blocks are ~105 bytes: three fit under 350, so the nine waiting blocks make three segments.
	if _, segments := harness.SegmentedBlocks(t, st); segments != 4 {
		t.Errorf("%d segments, want 4 (the first, then three of three blocks)", segments)
	}
}

func TestAFlushWritesOneSegmentPerHourAndEachProcessRecordOnce(t *testing.T) {
	st := fileStore(t)
	w := New(Config{Store: st})
	defer w.Close(context.Background())
	next := hour + uint64(time.Hour)
	var records atomic.Int64
	record := func(int) ([]byte, error) { records.Add(1); return []byte(`{"process_id":"p"}`), nil }
	blocks := []segment.Block{block("a", hour, 10), block("b", next, 10), block("c", hour, 10), block("undated", 0, 10)}
	if _, err := w.Write(context.Background(), blocks, record); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(context.Background(), []segment.Block{block("d", hour, 10)}, record); err != nil {
		t.Fatal(err)
	}
	var keys []string
	st.List(context.Background(), "", func(k string) error { keys = append(keys, k); return nil })
	dirs := map[string]int{}
	for _, k := range keys {
		if ref, ok := layout.ParseSegmentKey(k); ok {
			dirs[ref.Partition]++
		}
	}
	if dirs["2026-12-01/10"] != 2 || dirs["2026-12-01/11"] != 1 || dirs[layout.Undated] != 1 {
		t.Errorf("segments by hour: %v; want two in 10 (one per flush), one in 11, one undated", dirs)
	}
	if records.Load() != 1 {
		t.Errorf("the process record was built %d times, want once: every block names the same process", records.Load())
	}
	if _, _, err := st.Get(context.Background(), layout.ProcessKey(layout.UUID{1})); err != nil {
		t.Errorf("the process record: %v", err)
	}
}

func TestCloseFlushesWhatIsPending(t *testing.T) {
	st := fileStore(t)
	w := New(Config{Store: st, MaxDelay: time.Hour})
	done := make(chan error, 1)
	go func() {
		_, err := w.Write(context.Background(), []segment.Block{block("lingering", hour, 10)}, noRecord(t))
		done <- err
	}()
	harness.WaitFor(t, 5*time.Second, "the block to be pending", func() bool { return w.pendingBlocks() == 1 })
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the lingering write: %v", err)
	}
	if _, err := w.Write(context.Background(), []segment.Block{block("late", hour, 10)}, noRecord(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("a Write after Close: %v, want ErrClosed", err)
	}
}

// On S3 several flushes are in flight and segments carry their summary as user metadata.
func TestSegmentsLandOnSeaweedFSWithTheirMetadata(t *testing.T) {
	sw := harness.StartSeaweedFS(t)
	st := harness.OpenStore(t, sw.Storage(t))
	counted := &gatedStore{Store: st}
	w := New(Config{Store: counted, MaxInFlight: 4, SegmentMetadata: true})
	defer w.Close(context.Background())

	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.Write(context.Background(), []segment.Block{block(fmt.Sprintf("s3-%d", i), hour, 200)}, noRecord(t)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	ids, segments := harness.SegmentedBlocks(t, st)
	if len(ids) != n {
		t.Fatalf("%d blocks landed, want %d", len(ids), n)
	}
	t.Logf("%d requests, %d PUTs (%d segments and the process record)", n, counted.creates.Load(), segments)
	var key string
	st.List(context.Background(), layout.SegmentsPrefix+"/", func(k string) error { key = k; return nil })
	_, meta, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if meta[layout.MetaFormat] != segment.FormatV1 || meta[layout.MetaSignal] != "logs" || meta[segment.MetaBlocks] == "" {
		t.Errorf("segment metadata %v", meta)
	}
}
