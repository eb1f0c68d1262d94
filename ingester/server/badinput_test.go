package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/telemetrylake/telemetrylake/test/harness"
)

// exchange is one request of the bad-input corpus and what it must get back.
type exchange struct {
	name        string
	method      string // default POST
	path        string // default /ingestion/otlp/v1/logs
	contentType string // default application/x-protobuf
	headers     []string
	body        []byte
	chunked     bool // send without Content-Length, as the JS SDK does

	wantStatus  int
	wantCode    code.Code // of the google.rpc.Status body; unchecked for a 200
	wantMessage string    // a part of the Status message
	wantHeaders map[string]string
	wantStored  bool // whether anything may be stored
}

func gzipOf(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestBadInputGetsItsExactAnswerAndStoresNothing pins the answers of docs/contracts/otlp-http.md
// §2, one case per row.
func TestBadInputGetsItsExactAnswerAndStoresNothing(t *testing.T) {
	ing := startIngester(t, openFileStore(t))
	valid := threeResourceLogs(t)

	wrongWireType := protowire.AppendTag(nil, 1 /*time_unix_nano*/, protowire.VarintType)
	wrongWireType = protowire.AppendVarint(wrongWireType, 42)
	for _, f := range []protowire.Number{2 /*log_records*/, 2 /*scope_logs*/, 1 /*resource_logs*/} {
		wrongWireType = protowire.AppendBytes(protowire.AppendTag(nil, f, protowire.BytesType), wrongWireType)
	}
	oversized := make([]byte, 21<<20)

	cases := []exchange{
		{name: "a truncated protobuf body", body: valid[:len(valid)-5],
			wantStatus: 400, wantCode: code.Code_INVALID_ARGUMENT, wantMessage: "unexpected EOF"},
		{name: "a varint where a fixed64 timestamp belongs", body: wrongWireType,
			wantStatus: 400, wantCode: code.Code_INVALID_ARGUMENT, wantMessage: "resource_logs.scope_logs.log_records.time_unix_nano"},
		{name: "invalid JSON", contentType: "application/json", body: []byte(`{"resourceLogs":[{`),
			wantStatus: 400, wantCode: code.Code_INVALID_ARGUMENT, wantMessage: "invalid OTLP/JSON"},
		{name: "a fraction where JSON needs an int64", contentType: "application/json",
			body:       []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":1.5}]}]}]}`),
			wantStatus: 400, wantCode: code.Code_INVALID_ARGUMENT, wantMessage: "timeUnixNano"},
		{name: "a JSON trace id that is not 32 hex digits", contentType: "application/json",
			body:       []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"123"}]}]}]}`),
			wantStatus: 400, wantCode: code.Code_INVALID_ARGUMENT, wantMessage: "ID"},
		// otlp-http.md §2: a bare JSON number for a 64-bit field is accepted, as by the Collector.
		{name: "a bare JSON number for an int64 is accepted and stored", contentType: "application/json; charset=utf-8",
			body:       []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":1764000000000000000,"body":{"stringValue":"bare"}}]}]}]}`),
			wantStatus: 200, wantStored: true},
		{name: "an unknown content type", contentType: "text/plain", body: valid,
			wantStatus: 415, wantCode: code.Code_INVALID_ARGUMENT, wantMessage: `unsupported Content-Type "text/plain"`},
		{name: "no content type", contentType: "-", body: valid,
			wantStatus: 415, wantCode: code.Code_INVALID_ARGUMENT, wantMessage: "missing Content-Type"},
		{name: "an unknown content encoding", headers: []string{"Content-Encoding", "br"}, body: valid,
			wantStatus: 415, wantCode: code.Code_INVALID_ARGUMENT, wantMessage: `unsupported Content-Encoding "br"`},
		{name: "a gzip bomb", headers: []string{"Content-Encoding", "gzip"}, body: harness.Bomb(t, "gzip", 1<<30),
			wantStatus: 413, wantCode: code.Code_INVALID_ARGUMENT, wantMessage: "decompressed body is over"},
		{name: "a zstd bomb", headers: []string{"Content-Encoding", "zstd"}, body: harness.Bomb(t, "zstd", 1<<30),
			wantStatus: 413, wantCode: code.Code_INVALID_ARGUMENT, wantMessage: "decompressed body is over"},
		{name: "a 21 MiB body", body: oversized,
			wantStatus: 413, wantCode: code.Code_INVALID_ARGUMENT, wantMessage: "over the limit of 20971520 bytes"},
		{name: "a 21 MiB body sent chunked", body: oversized, chunked: true,
			wantStatus: 413, wantCode: code.Code_INVALID_ARGUMENT, wantMessage: "over the limit of 20971520 bytes"},
		{name: "a GET", method: http.MethodGet,
			wantStatus: 405, wantCode: code.Code_UNIMPLEMENTED, wantHeaders: map[string]string{"Allow": "POST"}},
		{name: "a PUT", method: http.MethodPut, body: valid,
			wantStatus: 405, wantCode: code.Code_UNIMPLEMENTED, wantHeaders: map[string]string{"Allow": "POST"}},
		{name: "an unknown path", path: "/v1/profiles", body: valid,
			wantStatus: 404, wantCode: code.Code_NOT_FOUND, wantMessage: "/v1/profiles"},
		{name: "a gzip header over a plain body", headers: []string{"Content-Encoding", "gzip"}, body: valid,
			wantStatus: 400, wantCode: code.Code_INVALID_ARGUMENT, wantMessage: "not gzip data"},
		{name: "a truncated gzip body", headers: []string{"Content-Encoding", "gzip"}, body: gzipOf(valid)[:30],
			wantStatus: 400, wantCode: code.Code_INVALID_ARGUMENT, wantMessage: "does not decompress"},
		{name: "a zstd header over an empty body", headers: []string{"Content-Encoding", "zstd"},
			wantStatus: 400, wantCode: code.Code_INVALID_ARGUMENT, wantMessage: "body is empty"},
		{name: "an empty protobuf request", body: nil, wantStatus: 200},
		{name: "an empty protobuf request sent chunked", body: nil, chunked: true, wantStatus: 200},
		{name: "an empty JSON request", contentType: "application/json", body: []byte(`{}`), wantStatus: 200},
		{name: "a JSON request with no resources", contentType: "application/json", body: []byte(`{"resourceLogs":[]}`), wantStatus: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := storedKeys(t, ing.Store)
			var mem runtime.MemStats
			runtime.ReadMemStats(&mem)
			allocBefore := mem.TotalAlloc

			resp := send(t, ing.URL, tc)

			runtime.ReadMemStats(&mem)
			if grew := mem.TotalAlloc - allocBefore; grew > 256<<20 {
				t.Errorf("answering took %d MiB of allocations", grew>>20)
			}
			if resp.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", resp.Status, tc.wantStatus, resp.Body)
			}
			for k, v := range tc.wantHeaders {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			wantType := "application/x-protobuf"
			if strings.HasPrefix(tc.contentType, "application/json") {
				wantType = "application/json"
			}
			if got := resp.Header.Get("Content-Type"); got != wantType {
				t.Errorf("answer Content-Type %q, want %q, the request's encoding", got, wantType)
			}
			if tc.wantStatus == 200 {
				if wantType == "application/json" && string(resp.Body) != "{}" || wantType != "application/json" && len(resp.Body) != 0 {
					t.Errorf("success body %q is not an empty Export*ServiceResponse", resp.Body)
				}
			} else {
				st := resp.RPCStatus(t)
				if code.Code(st.Code) != tc.wantCode || !strings.Contains(st.Message, tc.wantMessage) {
					t.Errorf("status {%v %q}, want {%v …%q…}", code.Code(st.Code), st.Message, tc.wantCode, tc.wantMessage)
				}
			}
			after := storedKeys(t, ing.Store)
			if stored := !slices.Equal(before, after); stored != tc.wantStored {
				t.Errorf("stored something = %v, want %v (%d keys before, %d after)", stored, tc.wantStored, len(before), len(after))
			}
		})
	}
}

func send(t *testing.T, base string, tc exchange) response {
	t.Helper()
	method, path, ct := tc.method, tc.path, tc.contentType
	if method == "" {
		method = http.MethodPost
	}
	if path == "" {
		path = "/ingestion/otlp/v1/logs"
	}
	if ct == "" {
		ct = "application/x-protobuf"
	}
	var body io.Reader = bytes.NewReader(tc.body)
	if tc.chunked {
		body = io.MultiReader(bytes.NewReader(tc.body)) // hides the length, so the client chunks
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if tc.chunked {
		req.ContentLength = -1
	}
	if ct != "-" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(tc.headers); i += 2 {
		req.Header.Set(tc.headers[i], tc.headers[i+1])
	}
	return do(t, req)
}

// TestBodyLimitIsInclusive pins otlp-http.md §2: a body of exactly the limit is accepted, limit+1
// is 413.
func TestBodyLimitIsInclusive(t *testing.T) {
	// The spec (v1.11.0): a body of exactly the limit is accepted, one byte more is not.
	body := threeResourceLogs(t)
	limit := int64(len(body))
	ing := startIngester(t, openFileStore(t), func(o *Options) { o.Limits.MaxBodyBytes = limit })
	for _, tc := range []struct {
		body    []byte
		chunked bool
		want    int
	}{
		{body, false, 200},
		{body, true, 200},
		{append(slices.Clone(body), 0x0a, 0x00), false, 413}, // limit+2, still a valid request
		{append(slices.Clone(body), 0x0a, 0x00), true, 413},
	} {
		resp := send(t, ing.URL, exchange{body: tc.body, chunked: tc.chunked})
		if resp.Status != tc.want {
			t.Errorf("%d bytes (chunked %v, limit %d): status %d, want %d", len(tc.body), tc.chunked, limit, resp.Status, tc.want)
		}
	}
}

// TestInflightBoundAnswers429WithRetryAfter pins otlp-http.md §2: past the in-flight bound, 429
// with Retry-After.
func TestInflightBoundAnswers429WithRetryAfter(t *testing.T) {
	// A chunked body that never ends holds its bytes; with a bound of 64 KiB the next request
	// that needs more must be refused rather than buffered.
	ing := startIngester(t, openFileStore(t), func(o *Options) { o.Limits.MaxInflightBytes = 64 << 10 })
	pr, pw := io.Pipe()
	defer pw.Close()
	holder, _ := http.NewRequest(http.MethodPost, ing.URL+"/v1/logs", pr)
	holder.Header.Set("Content-Type", "application/x-protobuf")
	go http.DefaultClient.Do(holder)
	pw.Write(make([]byte, 1000))
	waitFor(t, 5*time.Second, "the first request to hold bytes", func() bool {
		return ing.srv.bodies.inflight.used.Load() > 0
	})
	resp := post(t, ing.URL+"/v1/logs", "application/x-protobuf", make([]byte, 100<<10))
	if resp.Status != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != fmt.Sprint(overloadedRetryAfterSeconds) {
		t.Fatalf("status %d Retry-After %q, want 429 with integer seconds", resp.Status, resp.Header.Get("Retry-After"))
	}
	if st := resp.RPCStatus(t); code.Code(st.Code) != code.Code_RESOURCE_EXHAUSTED {
		t.Errorf("code %v, want RESOURCE_EXHAUSTED (8)", code.Code(st.Code))
	}
}
