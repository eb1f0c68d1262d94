//go:build cgo

package lakehouse

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestServeCommandLine runs `lakehouse serve` through Main, as the binary does: it answers on
// --listen, and returns 0 once its context ends (SIGTERM); flags that cannot work are refused.
func TestServeCommandLine(t *testing.T) {
	l := startLake(t)
	sendClaudeCodeTelemetry(t, l)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminAddr := aln.Addr().String()
	aln.Close()
	ctx, stop := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"serve", "--storage", l.Storage, "--cache", l.cacheDir, "--listen", addr, "--allow-anonymous", "--admin-listen", adminAddr}, &bytes.Buffer{}, &stderr)
	}()
	host, port, _ := net.SplitHostPort(addr)
	var conn *pgx.Conn
	for deadline := time.Now().Add(15 * time.Second); ; {
		conn, err = pgx.Connect(context.Background(), "host="+host+" port="+port+" user=me password=anything sslmode=disable")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		stop()
		t.Fatalf("lakehouse serve did not answer on %s: %v\n%s", addr, err, stderr.String())
	}
	var q float64
	if err := conn.QueryRow(context.Background(), `SELECT histogram_quantile(0.5, [1, 2, 5, 10]::DOUBLE[], [1, 3, 4, 2, 0]::UBIGINT[]) AS v
		FROM processes`).Scan(&q); err != nil || q != 2.75 {
		t.Errorf("histogram_quantile through the server = %v (%v), want 2.75", q, err)
	}
	conn.Close(context.Background())
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `telemetrylake_lakehouse_serve_statements_total{sqlstate="00000"} 1`) {
		t.Errorf("/metrics does not count the statement:\n%s", body)
	}
	stop()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Errorf("serve exited %d after its context ended:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after its context ended")
	}
	if !strings.Contains(stderr.String(), "--allow-anonymous: ANY password is accepted") {
		t.Errorf("--allow-anonymous was not logged loudly:\n%s", stderr.String())
	}

	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"serve", "--storage", l.Storage}, "--token-file is required"},
		{[]string{"serve", "--storage", l.Storage, "--allow-anonymous", "--tls-cert", "x.crt"}, "go together"},
		{[]string{"serve", "--storage", l.Storage, "--allow-anonymous", "--token-file", "t.yaml"}, "exclude each other"},
	} {
		var out bytes.Buffer
		if code := Main(context.Background(), c.args, &bytes.Buffer{}, &out); code != ExitUsage || !strings.Contains(out.String(), c.says) {
			t.Errorf("%q: exit %d, %q; want %d and a message that says %q", c.args, code, out.String(), ExitUsage, c.says)
		}
	}
}
