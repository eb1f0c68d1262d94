package harness

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Server is what StartIngester runs: an *ingester/server.Server, named by its method so that the
// harness does not import the ingester and ingester/server's own tests can use it too.
type Server interface {
	Run(ctx context.Context, otlp, admin net.Listener, grace time.Duration) error
}

// Ingester is a server started by StartIngester on real loopback listeners, as the binary runs it.
type Ingester struct {
	URL      string // the OTLP listener, http://127.0.0.1:PORT
	AdminURL string // the admin listener (/readyz, /metrics), http://127.0.0.1:PORT
}

// StartIngester runs srv on two fresh listeners of 127.0.0.1 and waits until its /readyz answers
// 200. When the test ends it stops srv and fails the test if Run returned an error.
func StartIngester(t testing.TB, srv Server) *Ingester {
	t.Helper()
	otlpLn, adminLn := Listen(t), Listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, otlpLn, adminLn, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ingester stopped with %v", err)
		}
	})
	ing := &Ingester{URL: "http://" + otlpLn.Addr().String(), AdminURL: "http://" + adminLn.Addr().String()}
	WaitFor(t, 10*time.Second, "the ingester to be ready", ing.Ready)
	return ing
}

// Ready says whether the ingester's /readyz answers 200.
func (ing *Ingester) Ready() bool {
	resp, err := http.Get(ing.AdminURL + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Logger sends a server's logs, from level up, to the test log, where they show only when the test
// fails.
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(LogWriter(t), &slog.HandlerOptions{Level: level}))
}

// LogWriter writes each line it is given to the test log.
func LogWriter(t testing.TB) io.Writer { return testLogWriter{t} }

type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
