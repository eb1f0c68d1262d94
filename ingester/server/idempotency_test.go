package server

import (
	"bytes"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"
	"google.golang.org/protobuf/proto"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"github.com/telemetrylake/telemetrylake/test/harness"
)

// threeResourceLogs is one request from three processes, as a Collector fanning in would send.
func threeResourceLogs(t *testing.T) []byte {
	req := &collogspb.ExportLogsServiceRequest{}
	for _, svc := range []string{"checkout", "cart", "search"} {
		req.ResourceLogs = append(req.ResourceLogs, &logspb.ResourceLogs{
			Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
				{Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: svc}}},
			}},
			ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{
				TimeUnixNano: 1_764_000_000_000_000_000,
				Body:         &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "order placed by " + svc}},
			}}}},
		})
	}
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTheSameBodyPostedConcurrentlyIsStoredOnce pins docs/contracts/otlp-http.md §3 and storage.md
// §4.5: one block per entry, duplicates counted.
func TestTheSameBodyPostedConcurrentlyIsStoredOnce(t *testing.T) {
	for _, l := range layouts() {
		for _, b := range backends() {
			t.Run(l.name+"/"+b.name, func(t *testing.T) { sameBodyPostedConcurrently(t, startIngester(t, b.open(t), l.configure)) })
		}
	}
}

func sameBodyPostedConcurrently(t *testing.T, ing *testIngester) {
	body := threeResourceLogs(t)
	const posts = 100
	var wg sync.WaitGroup
	statuses := make([]int, posts)
	for i := range posts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = post(t, ing.URL+"/ingestion/otlp/v1/logs", "application/x-protobuf", body).Status
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Fatalf("post %d got %d", i, s)
		}
	}
	if got := harness.BlockCopies(t, ing.Store); !onceEach(got, 3) {
		t.Fatalf("blocks stored %v, want one copy per resource (3)", got)
	}
	logs := map[string]string{"signal": "logs"}
	if got := ing.counter(t, "telemetrylake_ingester_blocks_written_total", logs); got != 3 {
		t.Errorf("blocks written = %v, want 3", got)
	}
	if got := ing.counter(t, "telemetrylake_ingester_blocks_duplicate_total", logs); got != 3*(posts-1) {
		t.Errorf("duplicates = %v, want %d (%d per block)", got, 3*(posts-1), posts-1)
	}

	// The same payload gzipped is the same blocks: ids are taken after decompression.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(body)
	zw.Close()
	if r := post(t, ing.URL+"/v1/logs", "application/x-protobuf", gz.Bytes(), "Content-Encoding", "gzip"); r.Status != 200 {
		t.Fatalf("gzipped repeat got %d", r.Status)
	}
	if got := harness.BlockCopies(t, ing.Store); !onceEach(got, 3) {
		t.Errorf("a gzipped repeat added blocks: %v", got)
	}
}

// onceEach says whether copies holds n block ids, each stored once.
func onceEach(copies map[string]int, n int) bool {
	for _, c := range copies {
		if c != 1 {
			return false
		}
	}
	return len(copies) == n
}
