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
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/telemetrylake/telemetrylake/ingester/otlpwire"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
)

// blocks is how a user checks what landed: `blocks list` walks the layout, `blocks show` prints
// one block as OTLP/JSON.
func blocks(args []string) error { return runBlocks(args, os.Stdout) }

func runBlocks(args []string, out io.Writer) error {
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
		return listBlocks(ctx, out, st, signals, from)
	case "show":
		if fs.NArg() != 1 {
			return errors.New("blocks show: want exactly one BLOCK_ID")
		}
		return showBlock(ctx, out, st, signals, fs.Arg(0))
	}
	return fmt.Errorf("blocks: unknown command %q: want 'list' or 'show'", sub)
}

func findBlocks(ctx context.Context, st store.Store, signals []layout.Signal, keep func(layout.BlockRef) bool) ([]layout.BlockRef, error) {
	var refs []layout.BlockRef
	for _, sig := range signals {
		err := st.List(ctx, layout.BlockListPrefix(sig), func(key string) error {
			if ref, ok := layout.ParseBlockKey(key); ok && keep(ref) {
				refs = append(refs, ref)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Key < refs[j].Key })
	return refs, nil
}

func listBlocks(ctx context.Context, out io.Writer, st store.Store, signals []layout.Signal, from time.Time) error {
	refs, err := findBlocks(ctx, st, signals, func(ref layout.BlockRef) bool {
		if from.IsZero() {
			return true
		}
		// An undated block cannot be placed in time, so a time filter leaves it out.
		hour, dated := ref.PartitionTime()
		return dated && !hour.Add(time.Hour).Before(from)
	})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BLOCK_ID\tSIGNAL\tPARTITION\tKEY")
	for _, ref := range refs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ref.ID, ref.Signal, ref.Partition, ref.Key)
	}
	return tw.Flush()
}

func showBlock(ctx context.Context, out io.Writer, st store.Store, signals []layout.Signal, id string) error {
	id = strings.ToLower(strings.TrimSpace(id))
	refs, err := findBlocks(ctx, st, signals, func(ref layout.BlockRef) bool { return ref.ID == id })
	if err != nil {
		return err
	}
	if len(refs) == 0 {
		return fmt.Errorf("no block %s in %s", id, st)
	}
	data, _, err := st.Get(ctx, refs[0].Key)
	if err != nil {
		return err
	}
	doc, err := otlpwire.ProtoToJSON(refs[0].Signal, data)
	if err != nil {
		return fmt.Errorf("block %s: %w", refs[0].Key, err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, doc, "", "  "); err != nil {
		return err
	}
	pretty.WriteByte('\n')
	_, err = out.Write(pretty.Bytes())
	return err
}
