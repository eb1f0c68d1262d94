package server

import (
	"bytes"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// testIngester is a real Server on real loopback listeners, as the binary runs it.
type testIngester struct {
	*harness.Ingester
	Store store.Store
	srv   *Server
	reg   *prometheus.Registry
}

func startIngester(t *testing.T, st store.Store, configure ...func(*Options)) *testIngester {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts := Options{
		Store:          st,
		Auth:           AllowAnonymous{},
		Tenant:         "test",
		HealthInterval: 200 * time.Millisecond,
		Logger:         harness.Logger(t, slog.LevelInfo),
		Registry:       reg,
	}
	for _, c := range configure {
		c(&opts)
	}
	srv := New(opts)
	return &testIngester{Ingester: harness.StartIngester(t, srv), Store: st, srv: srv, reg: reg}
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

// storeLayout is a way the server writes blocks. What a client sees must hold in both: segments,
// the default, and one object per block, which a lake may still be written in.
type storeLayout struct {
	name      string
	configure func(*Options)
}

func layouts() []storeLayout {
	return []storeLayout{{"segments", withSegments}, {"one object per block", withOneObjectPerBlock}}
}

// withSegments lets two flushes write at once even on the file store, so that the tests see
// flushes overlap.
func withSegments(o *Options) {
	o.Layout = ingesterconfig.LayoutSegments
	o.Segments.MaxInFlight = 2
}

func withOneObjectPerBlock(o *Options) { o.Layout = ingesterconfig.LayoutBlocks }

// backend is a real store the same test runs against.
type backend struct {
	name string
	open func(t *testing.T) store.Store
}

func backends() []backend {
	var out []backend
	for _, b := range harness.Backends() {
		out = append(out, backend{b.Name, func(t *testing.T) store.Store { return harness.OpenStore(t, b.Storage(t)) }})
	}
	return out
}

func openFileStore(t *testing.T) store.Store { return harness.OpenStore(t, "file://"+t.TempDir()) }

func TestMain(m *testing.M) {
	harness.UnsetOTelEnv()
	os.Exit(m.Run())
}
