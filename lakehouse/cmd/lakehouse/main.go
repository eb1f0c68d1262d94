//go:build cgo

// Command lakehouse answers SQL over the lake's stored OTLP blocks and materializes them into
// Parquet parts beside the blocks. It embeds DuckDB, so unlike the ingester it needs cgo; see
// docs/contracts/lakehouse.md for its tables, parts and command line.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/telemetrylake/telemetrylake/lakehouse"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := lakehouse.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
