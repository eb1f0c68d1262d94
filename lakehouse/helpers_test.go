//go:build cgo

package lakehouse

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/ingester/server"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

func TestMain(m *testing.M) {
	harness.UnsetOTelEnv()
	code := m.Run()
	harness.RemoveBuilt(&lakehouseCommand)
	os.Exit(code)
}

// lake is a real ingester writing into a real store, and the lakehouse reading the same store.
type lake struct {
	URL      string // the ingester's OTLP base, http://127.0.0.1:PORT
	Storage  string // the store URL both sides open
	Store    store.Store
	cacheDir string
}

// startLake starts an in-process ingester, as the binary runs it, on a file store in a temp dir.
func startLake(t *testing.T) *lake {
	t.Helper()
	return startLakeOn(t, "file://"+t.TempDir())
}

// startLakeOn starts an in-process ingester writing into the store at storage.
func startLakeOn(t *testing.T, storage string) *lake {
	t.Helper()
	return startLakeWith(t, storage, ingesterconfig.DefaultLayout)
}

// startLakeWith starts an in-process ingester writing into the store at storage in the given
// layout.
func startLakeWith(t *testing.T, storage string, storeLayout ingesterconfig.Layout) *lake {
	t.Helper()
	return startLakeSegments(t, storage, storeLayout, server.SegmentOptions{})
}

// startLakeSegments starts an in-process ingester writing into the store at storage in the given
// layout, its segment writer tuned by segs.
func startLakeSegments(t *testing.T, storage string, storeLayout ingesterconfig.Layout, segs server.SegmentOptions) *lake {
	t.Helper()
	st := harness.OpenStore(t, storage)
	ing := harness.StartIngester(t, server.New(server.Options{
		Store:          st,
		Auth:           server.AllowAnonymous{},
		Tenant:         "test",
		HealthInterval: 200 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry:       prometheus.NewRegistry(),
		Layout:         storeLayout,
		Segments:       segs,
	}))
	return &lake{URL: ing.URL, Storage: storage, Store: st, cacheDir: t.TempDir()}
}

// run is one invocation of the lakehouse command line, in process.
type run struct {
	code           int
	stdout, stderr string
}

func (l *lake) lakehouse(t *testing.T, args ...string) run {
	t.Helper()
	// Every run gets the lake's cache, as one machine's runs would share one.
	args = append(args[:1:1], append([]string{"--storage", l.Storage, "--cache", l.cacheDir}, args[1:]...)...)
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, &stdout, &stderr)
	return run{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// query runs `lakehouse sql --format json` and decodes its rows; it fails the test on any exit
// status but 0.
func (l *lake) query(t *testing.T, query string, window ...string) []map[string]any {
	t.Helper()
	args := append([]string{"sql", "--format", "json"}, window...)
	r := l.lakehouse(t, append(args, query)...)
	if r.code != 0 {
		t.Fatalf("lakehouse sql %q exited %d: %s", query, r.code, r.stderr)
	}
	var out []map[string]any
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("lakehouse sql %q printed no JSON array: %v\n%s", query, err, r.stdout)
	}
	return out
}

// one runs a query that returns exactly one row.
func (l *lake) one(t *testing.T, query string, window ...string) map[string]any {
	t.Helper()
	rows := l.query(t, query, window...)
	if len(rows) != 1 {
		t.Fatalf("%q returned %d rows, want 1: %v", query, len(rows), rows)
	}
	return rows[0]
}

// keys lists the store's objects under a prefix.
func (l *lake) keys(t *testing.T, prefix string) []string {
	t.Helper()
	var keys []string
	if err := l.Store.List(context.Background(), prefix, func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

func post(t *testing.T, url string, body []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d", url, resp.StatusCode)
	}
}
