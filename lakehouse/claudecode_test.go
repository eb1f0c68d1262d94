//go:build cgo

package lakehouse

import (
	"strings"
	"testing"
)

// TestClaudeCodeQueriesFromTheContract sends telemetry shaped like Claude Code's with the SDK
// (sendClaudeCodeTelemetry: cost as a delta Sum with a model attribute, tool calls as spans with
// tool_name, and more) and runs the two
// day-one queries of docs/contracts/lakehouse.md §1 as a user would type them.
func TestClaudeCodeQueriesFromTheContract(t *testing.T) {
	l := startLake(t)
	sendClaudeCodeTelemetry(t, l)

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
