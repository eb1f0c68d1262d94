//go:build cgo

package lakehouse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"

	"github.com/telemetrylake/telemetrylake/api/tokenfile"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// served is a lake and a `lakehouse serve` over it, in process, on 127.0.0.1.
type served struct {
	*lake
	Addr string
	Srv  *Server
	// QueryToken may query; SendToken is an ingest-only token of the same file.
	QueryToken, SendToken string
}

// startServe starts a server over l's store with a token file of two tokens; adjust changes the
// options before it starts.
func startServe(t testing.TB, l *lake, adjust func(*ServeOptions)) *served {
	t.Helper()
	query, err := tokenfile.New()
	if err != nil {
		t.Fatal(err)
	}
	send, _ := tokenfile.New()
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	body := fmt.Sprintf("tokens:\n- name: grafana\n  sha256: %s\n  permissions: [query]\n- name: sender\n  sha256: %s\n",
		tokenfile.Hash(query), tokenfile.Hash(send))
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := ServeOptions{Store: l.Store, CacheDir: l.cacheDir, TokenFile: file,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if testing.Verbose() {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if adjust != nil {
		adjust(&opts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := NewServer(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		srv.Close()
	})
	return &served{lake: l, Addr: ln.Addr().String(), Srv: srv, QueryToken: query, SendToken: send}
}

// dsn is a connection string for password; extra adds key=value settings.
func (s *served) dsn(password string, extra ...string) string {
	host, port, _ := net.SplitHostPort(s.Addr)
	d := fmt.Sprintf("host=%s port=%s user=grafana dbname=lake password=%s sslmode=disable", host, port, password)
	for _, e := range extra {
		d += " " + e
	}
	return d
}

func (s *served) connect(t testing.TB, password string, extra ...string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.dsn(password, extra...))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// sqlState is the SQLSTATE of a PostgreSQL error, "" for any other error.
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// claudeCodeResource is the resource Claude Code sends with.
var claudeCodeResource = sdkresource.NewWithAttributes("",
	attribute.String("service.name", "claude-code"), attribute.String("service.version", "2.0.0"),
	attribute.String("user.email", "dev@example.com"))

// clearOfAnHourBoundary waits out the last minute of an hour: the tests expect the data sent now
// in the hour (and day) they compute afterwards, which a send straddling the boundary breaks.
func clearOfAnHourBoundary(t testing.TB) {
	next := time.Now().Truncate(time.Hour).Add(time.Hour)
	if left := time.Until(next); left < time.Minute {
		t.Logf("waiting %s for the hour to turn, so the data and the expected hour agree", left.Round(time.Second))
		time.Sleep(left + time.Second)
	}
}

// sendClaudeCodeTelemetry sends what Claude Code sends, through the ingester with the OTel SDK:
// cost and token counters per model (delta temporality), active time, tool spans, and API error
// events; plus one log from three days ago, outside the default window. The expected answers are
// the claudeCode* values below.
func sendClaudeCodeTelemetry(t testing.TB, l *lake) {
	t.Helper()
	clearOfAnHourBoundary(t)
	ctx := context.Background()
	sdk := harness.StartSDK(t, harness.SDKConfig{Endpoint: l.URL, Resource: claudeCodeResource, DeltaTemporality: true})
	meter := sdk.Metrics.Meter("com.anthropic.claude_code")
	cost, _ := meter.Float64Counter("claude_code.cost.usage", metric.WithUnit("USD"))
	tokens, _ := meter.Int64Counter("claude_code.token.usage", metric.WithUnit("tokens"))
	active, _ := meter.Float64Counter("claude_code.active_time.total", metric.WithUnit("s"))
	for _, c := range []struct {
		model string
		usd   float64
	}{{"claude-opus", 0.25}, {"claude-opus", 0.5}, {"claude-haiku", 0.125}} {
		cost.Add(ctx, c.usd, metric.WithAttributes(attribute.String("model", c.model)))
	}
	for _, c := range []struct {
		kind string
		n    int64
	}{{"input", 100}, {"output", 20}, {"cacheRead", 300}} {
		tokens.Add(ctx, c.n, metric.WithAttributes(attribute.String("type", c.kind), attribute.String("model", "claude-opus")))
	}
	active.Add(ctx, 30)
	if err := sdk.Metrics.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	cost.Add(ctx, 1, metric.WithAttributes(attribute.String("model", "claude-opus")))
	tokens.Add(ctx, 50, metric.WithAttributes(attribute.String("type", "input"), attribute.String("model", "claude-haiku")))
	active.Add(ctx, 12.5)

	tracer := sdk.Traces.Tracer("com.anthropic.claude_code")
	start := time.Now().Add(-time.Minute)
	for _, c := range []struct {
		tool string
		ms   int
	}{{"Bash", 100}, {"Bash", 300}, {"Read", 10}} {
		_, span := tracer.Start(ctx, "claude_code.tool", trace.WithTimestamp(start), trace.WithAttributes(attribute.String("tool_name", c.tool)))
		span.End(trace.WithTimestamp(start.Add(time.Duration(c.ms) * time.Millisecond)))
	}

	logger := sdk.Logs.Logger("com.anthropic.claude_code")
	// A block is dated by its earliest record: the old log goes in an export of its own, as a
	// client that was offline for three days would send it.
	var old otellog.Record
	old.SetTimestamp(time.Now().Add(-72 * time.Hour))
	old.SetBody(attribute.StringValue("three days ago"))
	logger.Emit(ctx, old)
	if err := sdk.Logs.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, e := range []struct {
		status, message string
	}{{"529", "Overloaded"}, {"500", "Internal server error"}} {
		var rec otellog.Record
		rec.SetTimestamp(time.Now())
		rec.SetBody(attribute.StringValue("claude_code.api_error"))
		rec.AddAttributes(attribute.String("event.name", "api_error"), attribute.String("model", "claude-opus"),
			attribute.String("status_code", e.status), attribute.String("error", e.message))
		logger.Emit(ctx, rec)
	}
	sdk.Shutdown(t)
}
