package harness

import (
	"context"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/telemetrylake/telemetrylake/lake/store"
)

// Response is what an OTLP/HTTP client saw.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends a request and reads the whole answer, failing the test if the exchange fails.
func Do(t testing.TB, req *http.Request) Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// RPCStatus decodes an error body as the google.rpc.Status it must be, in the encoding the
// response declares.
func (r Response) RPCStatus(t testing.TB) *statuspb.Status {
	t.Helper()
	st := &statuspb.Status{}
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		err = protojson.Unmarshal(r.Body, st)
	} else {
		err = proto.Unmarshal(r.Body, st)
	}
	if err != nil {
		t.Fatalf("error body %q is not a google.rpc.Status: %v", r.Body, err)
	}
	return st
}

// StoredKeys lists every object in a store, sorted.
func StoredKeys(t testing.TB, st store.Store) []string {
	t.Helper()
	var keys []string
	if err := st.List(context.Background(), "", func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	sort.Strings(keys)
	return keys
}

// WaitFor polls cond every 50 ms until it holds, failing the test after timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
