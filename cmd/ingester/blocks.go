package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/telemetrylake/telemetrylake/ingester/otlpwire"
	lakeblocks "github.com/telemetrylake/telemetrylake/lake/blocks"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
)

// blocks is how a user checks what landed: `blocks list` walks the layout, `blocks show` prints
// one block as OTLP/JSON. Both read standalone blocks (blocks/) and segments (segments/), and show
// each block id once per partition, as every reader of the lake counts it (see
// docs/contracts/storage.md).
func blocks(args []string) error { return runBlocks(args, os.Stdout, os.Stderr) }

// runBlocks writes its answer to out and a line per corrupt segment it skipped to warn.
func runBlocks(args []string, out, warn io.Writer) error {
	if len(args) == 0 {
		return errors.New("blocks: want 'list' or 'show'")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("blocks "+sub, flag.ContinueOnError)
	storage := fs.String("storage", "", "store URL, as given to the ingester")
	signalName := fs.String("signal", "", "only this signal: logs, metrics or traces")
	since := fs.String("since", "", "only blocks dated at or after this time: RFC 3339, or a duration back from now such as 24h")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *storage == "" {
		return errors.New("blocks: --storage is required")
	}
	var signals []layout.Signal
	if *signalName == "" {
		signals = layout.Signals
	} else {
		s, err := layout.ParseSignal(*signalName)
		if err != nil {
			return err
		}
		signals = []layout.Signal{s}
	}
	ctx := context.Background()
	st, err := store.Open(ctx, *storage)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "list":
		var from time.Time
		if *since != "" {
			if from, err = layout.ParseTime(*since, time.Now()); err != nil {
				return err
			}
		}
		return listBlocks(ctx, out, warn, st, signals, from)
	case "show":
		if fs.NArg() != 1 {
			return errors.New("blocks show: want exactly one BLOCK_ID")
		}
		return showBlock(ctx, out, warn, st, signals, fs.Arg(0))
	}
	return fmt.Errorf("blocks: unknown command %q: want 'list' or 'show'", sub)
}

// findBlocks lists the blocks the filter keeps, each id once (lake/blocks), and reports each
// corrupt segment it skipped on warn.
func findBlocks(ctx context.Context, warn io.Writer, st store.Store, f lakeblocks.Filter) ([]lakeblocks.Found, error) {
	found, skipped, err := lakeblocks.List(ctx, st, f)
	for _, s := range skipped {
		fmt.Fprintf(warn, "blocks: skipped segment %s: %s\n", s.Key, s.Reason)
	}
	return found, err
}

func listBlocks(ctx context.Context, out, warn io.Writer, st store.Store, signals []layout.Signal, from time.Time) error {
	blocks, err := findBlocks(ctx, warn, st, lakeblocks.Filter{Signals: signals, From: from})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BLOCK_ID\tSIGNAL\tPARTITION\tKEY")
	for _, b := range blocks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.Ref.ID, b.Ref.Signal, b.Ref.Partition, b.Ref.Key)
	}
	return tw.Flush()
}

func showBlock(ctx context.Context, out, warn io.Writer, st store.Store, signals []layout.Signal, id string) error {
	id = strings.ToLower(strings.TrimSpace(id))
	blocks, err := findBlocks(ctx, warn, st, lakeblocks.Filter{Signals: signals, ID: id})
	if err != nil {
		return err
	}
	if len(blocks) == 0 {
		return fmt.Errorf("no block %s in %s", id, st)
	}
	b := blocks[0]
	data, err := lakeblocks.Read(ctx, st, b)
	if err != nil {
		return err
	}
	doc, err := otlpwire.ProtoToJSON(b.Ref.Signal, data)
	if err != nil {
		return fmt.Errorf("block %s in %s: %w", id, b.Ref.Key, err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, doc, "", "  "); err != nil {
		return err
	}
	pretty.WriteByte('\n')
	_, err = out.Write(pretty.Bytes())
	return err
}
