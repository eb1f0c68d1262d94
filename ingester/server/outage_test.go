package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/protobuf/proto"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"

	"github.com/telemetrylake/telemetrylake/ingester/otlpwire"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// TestStoreOutageAnswers503AndRecovers stops SeaweedFS while clients keep sending, and checks
// that no request is ever acknowledged without its blocks being readable afterwards, in both
// storage layouts. It pins docs/contracts/otlp-http.md §2 (503, Retry-After) and storage.md §4.5
// (durable first) and §5.3 (a failed flush is 503 for every request in it).
func TestStoreOutageAnswers503AndRecovers(t *testing.T) {
	for _, layoutCase := range []struct {
		name      string
		configure func(*Options)
		// readable says whether an acknowledged block can be read back.
		readable func(t *testing.T, st store.Store) func(id layout.UUID, key string) bool
	}{
		{"one object per block", withOneObjectPerBlock, func(t *testing.T, st store.Store) func(layout.UUID, string) bool {
			return func(_ layout.UUID, key string) bool {
				_, _, err := st.Get(context.Background(), key)
				return err == nil
			}
		}},
		{"segments", withSegments, func(t *testing.T, st store.Store) func(layout.UUID, string) bool {
			ids, _ := harness.SegmentedBlocks(t, st)
			return func(id layout.UUID, _ string) bool { return ids[id] > 0 }
		}},
	} {
		t.Run(layoutCase.name, func(t *testing.T) {
			sw := harness.StartSeaweedFS(t)
			st := harness.OpenStore(t, sw.Storage(t))
			ing := startIngester(t, st, layoutCase.configure, func(o *Options) { o.StoreTimeout = 3 * time.Second })
			storeOutage(t, sw, st, ing, layoutCase.readable)
		})
	}
}

type ackedBlock struct {
	id  layout.UUID
	key string
}

func storeOutage(t *testing.T, sw *harness.SeaweedFS, st store.Store, ing *testIngester, readable func(*testing.T, store.Store) func(layout.UUID, string) bool) {
	var (
		mu       sync.Mutex
		acked    []ackedBlock // every block of every request that got a 200
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
			blocks, err := otlpwire.Split(layout.Logs, body)
			if err != nil {
				t.Error(err)
			}
			for _, b := range blocks {
				id, key := layout.BlockAddress(b.Meta, b.Bytes)
				acked = append(acked, ackedBlock{id, key})
			}
		}
		return resp
	}

	// Steady senders throughout the outage, as SDK exporters would be; several, so that with
	// segments a failed flush holds more than one request.
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
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	waitFor(t, 10*time.Second, "some acknowledged requests", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) > 5 })
	sw.Stop(t)

	var outage response
	waitFor(t, 15*time.Second, "a 503 while the store is down", func() bool {
		outage = sendOne()
		return outage.Status == http.StatusServiceUnavailable
	})
	if ra, err := strconv.Atoi(outage.Header.Get("Retry-After")); err != nil || ra <= 0 {
		t.Errorf("503 without integer Retry-After: %q", outage.Header.Get("Retry-After"))
	}
	if st := outage.RPCStatus(t); code.Code(st.Code) != code.Code_UNAVAILABLE {
		t.Errorf("503 carries code %v, want UNAVAILABLE (14)", code.Code(st.Code))
	}
	waitFor(t, 10*time.Second, "/readyz to fail", func() bool { return !ing.Ready() })

	sw.Start(t)
	waitFor(t, 30*time.Second, "/readyz to recover on its own", ing.Ready)
	waitFor(t, 30*time.Second, "a 200 after recovery", func() bool { return sendOne().Status == http.StatusOK })
	close(stop)
	senders.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("answers during the test: %v", statuses)
	isReadable := readable(t, st)
	for _, b := range acked {
		if !isReadable(b.id, b.key) {
			t.Errorf("acknowledged block %s (%s) is not readable", b.id, b.key)
		}
	}
	for status := range statuses {
		if status != http.StatusOK && status != http.StatusServiceUnavailable {
			t.Errorf("got %d answers of %d: an outage must only ever give 503", statuses[status], status)
		}
	}
}

// numberedLogs is a distinct one-record request per n.
func numberedLogs(t *testing.T, n int) []byte {
	req := &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{
			TimeUnixNano: uint64(time.Now().UnixNano()),
			Body:         &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: fmt.Sprintf("event %d", n)}},
		}}}},
	}}}
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
