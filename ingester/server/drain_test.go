package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// TestADrainDoesNotWaitForConnectionsThatNeverSentARequest opens a connection to the ingester
// that sends nothing, as a client's spare connection does, beside one request that is answered,
// and stops the ingester: the drain closes the silent connection after about a second, instead of
// net/http's five, and the writer's last flush and the seal of the open segment finish inside the
// grace period (they log an error when they do not).
func TestADrainDoesNotWaitForConnectionsThatNeverSentARequest(t *testing.T) {
	logs := &lines{}
	srv := New(Options{
		Store: openFileStore(t), Auth: AllowAnonymous{}, Tenant: "test", Layout: ingesterconfig.LayoutSegments,
		HealthInterval: 200 * time.Millisecond, Registry: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewJSONHandler(io.MultiWriter(logs, harness.LogWriter(t)), &slog.HandlerOptions{Level: slog.LevelError})),
	})
	otlpLn, adminLn := harness.Listen(t), harness.Listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	const grace = 5 * time.Second
	go func() { done <- srv.Run(ctx, otlpLn, adminLn, grace) }()
	url := "http://" + otlpLn.Addr().String()
	harness.WaitFor(t, 10*time.Second, "the ingester to be ready", (&harness.Ingester{AdminURL: "http://" + adminLn.Addr().String()}).Ready)

	silent, err := net.Dial("tcp", otlpLn.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if r := post(t, url+"/v1/logs", "application/x-protobuf", threeResourceLogs(t)); r.Status != http.StatusOK {
		t.Fatalf("POST got %d", r.Status)
	}
	http.DefaultClient.CloseIdleConnections()

	began := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("the drain took %s with nothing in flight, want about %s", took.Round(10*time.Millisecond), silentAfter)
	}
	silent.SetReadDeadline(time.Now().Add(time.Second))
	var netErr net.Error
	if _, err := silent.Read(make([]byte, 1)); err == nil || errors.As(err, &netErr) && netErr.Timeout() {
		t.Errorf("the silent connection is still open after the drain (read: %v)", err)
	}
	if n := logs.n.Load(); n > 0 {
		t.Errorf("the shutdown logged %d errors", n)
	}
}

// lines counts the log lines written to it, from any goroutine.
type lines struct{ n atomic.Int64 }

func (l *lines) Write(p []byte) (int, error) {
	l.n.Add(1)
	return len(p), nil
}
