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
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// TestStoreOutageAnswers503AndRecovers stops SeaweedFS while a client keeps sending, and checks
// that no request is ever acknowledged without its blocks being readable afterwards.
// It pins docs/contracts/otlp-http.md §2 (503, Retry-After) and storage.md §4.5 (durable first).
func TestStoreOutageAnswers503AndRecovers(t *testing.T) {
	sw := harness.StartSeaweedFS(t)
	st := harness.OpenStore(t, sw.Storage(t))
	ing := startIngester(t, st, func(o *Options) { o.StoreTimeout = 3 * time.Second })

	var (
		mu       sync.Mutex
		acked    []string // block keys of every request that got a 200
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
				_, key := layout.BlockAddress(b.Meta, b.Bytes)
				acked = append(acked, key)
			}
		}
		return resp
	}

	// A steady sender throughout the outage, as an SDK's exporter would be.
	stop := make(chan struct{})
	var senders sync.WaitGroup
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
	for _, key := range acked {
		if _, _, err := st.Get(context.Background(), key); err != nil {
			t.Errorf("acknowledged block %s is not readable: %v", key, err)
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
