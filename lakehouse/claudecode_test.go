//go:build cgo

package lakehouse

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"

	"github.com/telemetrylake/telemetrylake/test/harness"
)

// TestClaudeCodeQueriesFromTheContract sends telemetry shaped like Claude Code's with the SDK
// (cost as a Sum with a model attribute, tool calls as spans with tool_name) and runs the two
// day-one queries of docs/contracts/lakehouse.md §1 as a user would type them.
func TestClaudeCodeQueriesFromTheContract(t *testing.T) {
	l := startLake(t)
	ctx := context.Background()
	res := sdkresource.NewWithAttributes("", attribute.String("service.name", "claude-code"), attribute.String("service.version", "2.0.0"))

	// Claude Code exports cost with delta temporality, so each export's points add up.
	sdk := harness.StartSDK(t, harness.SDKConfig{Endpoint: l.URL, Resource: res, DeltaTemporality: true})
	cost, _ := sdk.Metrics.Meter("com.anthropic.claude_code").Float64Counter("claude_code.cost.usage", metric.WithUnit("USD"))
	for _, c := range []struct {
		model string
		usd   float64
	}{{"claude-opus", 0.25}, {"claude-opus", 0.5}, {"claude-haiku", 0.125}} {
		cost.Add(ctx, c.usd, metric.WithAttributes(attribute.String("model", c.model)))
	}
	if err := sdk.Metrics.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	cost.Add(ctx, 1, metric.WithAttributes(attribute.String("model", "claude-opus")))

	tracer := sdk.Traces.Tracer("com.anthropic.claude_code")
	start := time.Now().Add(-time.Minute)
	for _, c := range []struct {
		tool string
		ms   int
	}{{"Bash", 100}, {"Bash", 300}, {"Read", 10}} {
		_, span := tracer.Start(ctx, "claude_code.tool", trace.WithTimestamp(start), trace.WithAttributes(attribute.String("tool_name", c.tool)))
		span.End(trace.WithTimestamp(start.Add(time.Duration(c.ms) * time.Millisecond)))
	}
	// The last export of the cost, and of the spans.
	sdk.Shutdown(t)

	costs := l.query(t, `SELECT attributes['model'] AS model, sum(value) AS usd
		FROM measures WHERE name = 'claude_code.cost.usage' GROUP BY 1 ORDER BY 1`)
	if len(costs) != 2 || costs[0]["model"] != "claude-haiku" || costs[0]["usd"] != 0.125 ||
		costs[1]["model"] != "claude-opus" || costs[1]["usd"] != 1.75 {
		t.Errorf("cost by model = %v, want claude-haiku 0.125 and claude-opus 1.75", costs)
	}
	tools := l.query(t, `SELECT attributes['tool_name'] AS tool, count(*) AS calls, avg(duration_ns) / 1e6 AS avg_ms
		FROM otel_spans WHERE name = 'claude_code.tool' GROUP BY 1 ORDER BY 1`)
	if len(tools) != 2 || tools[0]["tool"] != "Bash" || tools[0]["calls"] != float64(2) || tools[0]["avg_ms"] != 200.0 ||
		tools[1]["tool"] != "Read" || tools[1]["calls"] != float64(1) || tools[1]["avg_ms"] != 10.0 {
		t.Errorf("tools = %v, want Bash 2 calls 200 ms and Read 1 call 10 ms", tools)
	}

	// The table format, as a user sees it.
	r := l.lakehouse(t, "sql", `SELECT attributes['model'] AS model, sum(value) AS usd FROM measures WHERE name = 'claude_code.cost.usage' GROUP BY 1 ORDER BY 1`)
	if r.code != 0 || !strings.Contains(r.stdout, "claude-opus  │ 1.75") {
		t.Errorf("table output (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("lakehouse sql (table):\n%s", r.stdout)
	r = l.lakehouse(t, "sql", `SELECT attributes['tool_name'] AS tool, count(*) AS calls, avg(duration_ns) / 1e6 AS avg_ms FROM otel_spans WHERE name = 'claude_code.tool' GROUP BY 1 ORDER BY 1`)
	if r.code != 0 || !strings.Contains(r.stdout, "Bash") {
		t.Errorf("table output (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("lakehouse sql (table):\n%s", r.stdout)
}
