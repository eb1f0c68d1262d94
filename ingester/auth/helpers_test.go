package auth

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/api/tokenfile"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/ingester/server"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

func TestMain(m *testing.M) {
	harness.UnsetOTelEnv()
	os.Exit(m.Run())
}

// testIngester is the real server on real loopback listeners, writing into a file store.
type testIngester struct {
	URL   string // http://127.0.0.1:PORT/ingestion/otlp
	Store store.Store
}

func startIngester(t *testing.T, authn server.Authenticator) *testIngester {
	t.Helper()
	st := harness.OpenStore(t, "file://"+t.TempDir())
	srv := server.New(server.Options{
		Store:          st,
		Auth:           authn,
		HealthInterval: 100 * time.Millisecond,
		Logger:         testLogger(t),
		Registry:       prometheus.NewRegistry(),
	})
	ing := harness.StartIngester(t, srv)
	return &testIngester{URL: ing.URL + wellknown.OTLPBasePath, Store: st}
}

// newChain builds a chain whose background work ends with the test and whose metrics are returned.
func newChain(t *testing.T, cfg ingesterconfig.Auth, opts Options) (*Chain, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	opts.Logger = testLogger(t)
	if opts.TokenFilePollInterval == 0 {
		opts.TokenFilePollInterval = 100 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c, err := New(ctx, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, reg
}

// testLogger sends logs to the test log, so they show only when a test fails, and fails the test
// if a log line ever holds one of the secrets registered with noLeak.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewJSONHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	line := string(p)
	secretsMu.Lock()
	for _, secret := range secrets {
		if strings.Contains(line, secret) {
			w.t.Errorf("a log line holds a credential or its hash: %s", line)
		}
	}
	secretsMu.Unlock()
	w.t.Log(strings.TrimSpace(line))
	return len(p), nil
}

// secrets are credentials (and token hashes) that no log line may hold; noLeak adds to them.
var (
	secretsMu sync.Mutex
	secrets   []string
)

func noLeak(values ...string) {
	secretsMu.Lock()
	defer secretsMu.Unlock()
	secrets = append(secrets, values...)
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	harness.WaitFor(t, timeout, what, cond)
}

// newTestToken makes a token and its file entry, and registers both as secrets.
func newTestToken(t *testing.T, name string, edit ...func(*tokenfile.Entry)) (string, tokenfile.Entry) {
	t.Helper()
	tok, err := tokenfile.New()
	if err != nil {
		t.Fatal(err)
	}
	e := tokenfile.Entry{Name: name, SHA256: tokenfile.Hash(tok)}
	for _, f := range edit {
		f(&e)
	}
	noLeak(tok, e.SHA256)
	return tok, e
}

func tokenFileYAML(entries ...tokenfile.Entry) string {
	var b strings.Builder
	b.WriteString("tokens:\n")
	for _, e := range entries {
		fmt.Fprintf(&b, "- name: %s\n  sha256: %s\n", e.Name, e.SHA256)
		if e.NotAfter != nil {
			fmt.Fprintf(&b, "  notAfter: %q\n", e.NotAfter.Format(time.RFC3339))
		}
		if len(e.Signals) > 0 {
			fmt.Fprintf(&b, "  signals: [%s]\n", strings.Join(e.Signals, ", "))
		}
		if len(e.Permissions) > 0 {
			fmt.Fprintf(&b, "  permissions: [%s]\n", strings.Join(e.Permissions, ", "))
		}
	}
	return b.String()
}

// secretVolume lays out files the way the kubelet's atomic writer does for a Secret volume:
//
//	tokens.yaml -> ..data/tokens.yaml
//	..data -> ..2026_11_27_12_00_00.123456789
//	..2026_11_27_12_00_00.123456789/tokens.yaml
//
// and updates it the same way: a new timestamped directory, a ..data_tmp symlink to it renamed over
// ..data (the one atomic step), then the old directory removed.
type secretVolume struct {
	t   *testing.T
	dir string
}

func newSecretVolume(t *testing.T, files map[string]string) *secretVolume {
	v := &secretVolume{t: t, dir: t.TempDir()}
	v.update(files)
	return v
}

func (v *secretVolume) path(name string) string { return filepath.Join(v.dir, name) }

func (v *secretVolume) update(files map[string]string) {
	t := v.t
	t.Helper()
	old, _ := os.Readlink(v.path("..data"))
	ts, err := os.MkdirTemp(v.dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(ts, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(v.path(name)); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", name), v.path(name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Symlink(filepath.Base(ts), v.path("..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(v.path("..data_tmp"), v.path("..data")); err != nil {
		t.Fatal(err)
	}
	if old != "" {
		if err := os.RemoveAll(v.path(old)); err != nil {
			t.Fatal(err)
		}
	}
}

// export sends one small trace request (or another signal's route, with an empty body of that
// signal) with the given Authorization header value; "" sends none.
func export(t *testing.T, ing *testIngester, signal layout.Signal, authorization string, jsonBody bool) harness.Response {
	t.Helper()
	body, contentType := traceRequest(t, "auth-test"), "application/x-protobuf"
	if signal != layout.Traces {
		body = nil
	}
	if jsonBody {
		body, contentType = []byte(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"auth-json"}}]},"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"json-span","startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000001000000000"}]}]}]}`), "application/json"
	}
	req, err := http.NewRequest(http.MethodPost, ing.URL+"/v1/"+string(signal), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return harness.Do(t, req)
}

func traceRequest(t *testing.T, spanName string) []byte {
	t.Helper()
	req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{
			Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "auth-test"}},
		}}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			TraceId:           bytes.Repeat([]byte{1}, 16),
			SpanId:            bytes.Repeat([]byte{2}, 8),
			Name:              spanName,
			StartTimeUnixNano: uint64(time.Now().UnixNano()),
			EndTimeUnixNano:   uint64(time.Now().UnixNano()),
		}}}},
	}}}
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// storedBlocks counts the blocks stored, in either layout.
func storedBlocks(t *testing.T, st store.Store) int { return len(harness.BlockCopies(t, st)) }

// spanNames decodes every stored trace block and returns the names of its spans.
func spanNames(t *testing.T, st store.Store) map[string]bool {
	t.Helper()
	return harness.ReadLanded(t, st).SpanNames
}

// authCounts reads telemetrylake_ingester_auth_requests_total as "principal/result" -> value.
func authCounts(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "telemetrylake_ingester_auth_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			out[labels["principal"]+"/"+labels["result"]] = m.GetCounter().GetValue()
		}
	}
	return out
}
