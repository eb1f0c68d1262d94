package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"google.golang.org/protobuf/proto"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// The bound the ingester's memory must stay under through hostile input, with GOMEMLIMIT set as
// the operator sets it (nine tenths of the container's limit, controllers/builders env):
//
//   - request bodies held at once: at most ingesterconfig.DefaultMaxInflightBytes (64 MiB);
//   - the segment writer's copies: a batch pending and a batch flushing, each its blocks' bytes
//     and the segment they encode to, each batch at most one body of 20 MiB
//     (DefaultMaxBodyBytes) or 16 MiB of smaller blocks: 4 x 20 MiB;
//   - the runtime, the HTTP server and the rest of the process: 32 MiB;
//
// 176 MiB of memory in use at most. A container limit of 256 MiB (GOMEMLIMIT 230 MiB) leaves
// the garbage collector room to keep below it, and the kernel's OOM killer away.
const (
	memoryLimitForTest = 256 << 20
	memoryInUseBound   = ingesterconfig.DefaultMaxInflightBytes + 4*ingesterconfig.DefaultMaxBodyBytes + 32<<20
)

// TestHostileInputLeavesTheIngesterWithinItsMemoryLimit sends the real binary the bad-input
// corpus's heavy cases, a body past the limit, a gzip bomb and 64 concurrent 20 MiB bodies,
// then reads its peak resident memory (VmHWM) from the kernel.
func TestHostileInputLeavesTheIngesterWithinItsMemoryLimit(t *testing.T) {
	if memoryInUseBound > memoryLimitForTest {
		t.Fatalf("the derived bound %d MiB exceeds the limit %d MiB it is meant to fit", memoryInUseBound>>20, memoryLimitForTest>>20)
	}
	bin := harness.BuildIngester(t)
	ing := harness.StartIngesterProcess(t, bin, "file://"+t.TempDir(), nil,
		"GOMEMLIMIT="+strconv.Itoa(memoryLimitForTest/10*9))
	url := ing.URL + "/v1/logs"
	statuses := map[int]int{}
	var mu sync.Mutex
	send := func(body io.Reader, size int64, encoding string) {
		req, err := http.NewRequest(http.MethodPost, url, body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/x-protobuf")
		if encoding != "" {
			req.Header.Set("Content-Encoding", encoding)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			// The ingester answers 429 before reading a body it has no room for, and closes the
			// connection; a client still writing sees a broken pipe instead of the answer.
			if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
				mu.Lock()
				statuses[0]++
				mu.Unlock()
				return
			}
			t.Error(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		mu.Lock()
		statuses[resp.StatusCode]++
		mu.Unlock()
	}

	over := make([]byte, ingesterconfig.DefaultMaxBodyBytes+1<<20)
	send(bytes.NewReader(over), int64(len(over)), "")
	bomb := harness.Bomb(t, "gzip", 4*int(ingesterconfig.DefaultMaxDecompressedBytes)) // four times what may be decompressed
	send(bytes.NewReader(bomb), int64(len(bomb)), "gzip")

	// 64 distinct bodies of 20 MiB, sent at once; they share all but their first bytes, so the
	// test itself holds one.
	template := bigLogsRequest(t, int(ingesterconfig.DefaultMaxBodyBytes-1<<10))
	t.Logf("the oversized body and the bomb answered %v", statuses)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			head := bytes.Clone(template.bytes[:template.markAt+8])
			copy(head[template.markAt:], fmt.Sprintf("%08x", i)) // still UTF-8, as a string must be
			send(io.MultiReader(bytes.NewReader(head), bytes.NewReader(template.bytes[template.markAt+8:])), int64(len(template.bytes)), "")
		})
	}
	wg.Wait()

	peak := harness.PeakRSS(t, ing.Cmd.Process.Pid)
	t.Logf("answers %v (0: cut off while sending); peak RSS %d MiB (limit %d MiB, derived bound on memory in use %d MiB)", statuses, peak>>20, memoryLimitForTest>>20, memoryInUseBound>>20)
	if statuses[http.StatusOK] == 0 {
		t.Errorf("no 20 MiB body was accepted: %v", statuses)
	}
	if statuses[http.StatusRequestEntityTooLarge] < 2 {
		t.Errorf("the oversized body and the bomb were not both refused with 413: %v", statuses)
	}
	if peak > memoryLimitForTest {
		t.Errorf("peak RSS %d MiB is over the %d MiB limit", peak>>20, memoryLimitForTest>>20)
	}
}

// markedRequest is an encoded request with 8 bytes at markAt that may be changed to make it
// distinct without changing its length.
type markedRequest struct {
	bytes  []byte
	markAt int
}

// bigLogsRequest is a logs request of about size bytes: one record whose body is a long string.
func bigLogsRequest(t *testing.T, size int) markedRequest {
	mark := "MARK0000"
	text := mark + string(bytes.Repeat([]byte("x"), size-len(mark)))
	b, err := proto.Marshal(&collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{
			TimeUnixNano: 1_700_000_000_000_000_000,
			Body:         &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: text}},
		}}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(b, []byte(mark))
	if at < 0 {
		t.Fatal("the mark is not in the encoded request")
	}
	return markedRequest{bytes: b, markAt: at}
}
