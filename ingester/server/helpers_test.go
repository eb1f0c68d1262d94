package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// testIngester is a real Server on real loopback listeners, as the binary runs it.
type testIngester struct {
	URL      string // OTLP base, http://127.0.0.1:PORT
	AdminURL string
	Store    store.Store
	srv      *Server
	reg      *prometheus.Registry
}

func startIngester(t *testing.T, st store.Store, configure ...func(*Options)) *testIngester {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts := Options{
		Store:          st,
		Auth:           AllowAnonymous{},
		Tenant:         "test",
		HealthInterval: 200 * time.Millisecond,
		Logger:         slog.New(slog.NewJSONHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Registry:       reg,
	}
	for _, c := range configure {
		c(&opts)
	}
	srv := New(opts)
	otlpLn := listen(t)
	adminLn := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, otlpLn, adminLn, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ingester stopped with %v", err)
		}
	})
	ing := &testIngester{URL: "http://" + otlpLn.Addr().String(), AdminURL: "http://" + adminLn.Addr().String(), Store: st, srv: srv, reg: reg}
	waitFor(t, 10*time.Second, "ingester ready", func() bool { return ing.ready() })
	return ing
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// testLogWriter sends the server's logs to the test log, so they show only when a test fails.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (ing *testIngester) ready() bool {
	resp, err := http.Get(ing.AdminURL + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// counter reads a counter's value by name and labels from the server's registry.
func (ing *testIngester) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := ing.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if matches(m, labels) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func matches(m *dto.Metric, labels map[string]string) bool {
	for k, v := range labels {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == k && lp.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func post(t *testing.T, url, contentType string, body []byte, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(t, req)
}

type response = harness.Response

func do(t *testing.T, req *http.Request) response { return harness.Do(t, req) }

func storedKeys(t *testing.T, st store.Store) []string { return harness.StoredKeys(t, st) }

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	harness.WaitFor(t, timeout, what, cond)
}

func blockKeys(t *testing.T, st store.Store) []string {
	var blocks []string
	for _, k := range storedKeys(t, st) {
		if _, ok := layout.ParseBlockKey(k); ok {
			blocks = append(blocks, k)
		}
	}
	return blocks
}

// backend is a real store the same test runs against.
type backend struct {
	name string
	open func(t *testing.T) store.Store
}

func backends() []backend {
	return []backend{
		{"file", func(t *testing.T) store.Store { return openFileStore(t) }},
		{"s3", func(t *testing.T) store.Store { return openS3Store(t, startSeaweedFS(t)) }},
	}
}

func openFileStore(t *testing.T) store.Store {
	st, err := store.Open(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// startSeaweedFS starts a real SeaweedFS for the test; its admin keys reach the store through the
// standard AWS environment variables, as they would in production.
func startSeaweedFS(t *testing.T) *harness.SeaweedFS {
	sw := harness.StartSeaweedFS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", sw.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", sw.SecretKey)
	t.Setenv("AWS_REGION", "us-east-1")
	return sw
}

func openS3Store(t *testing.T, sw *harness.SeaweedFS) store.Store {
	bucket := fmt.Sprintf("lake-%d", time.Now().UnixNano())
	sw.CreateBucket(t, bucket)
	u := fmt.Sprintf("s3://%s/tenants/team-a?endpoint=%s&region=us-east-1&path_style=true", bucket, url.QueryEscape(sw.Endpoint))
	st, err := store.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestMain(m *testing.M) {
	// The SDK exporters read these; a developer's own settings must not leak into the tests.
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		os.Unsetenv(k)
	}
	os.Exit(m.Run())
}
