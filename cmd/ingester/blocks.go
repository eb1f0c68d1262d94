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
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/telemetrylake/telemetrylake/ingester/otlpwire"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/segment"
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

// found is a block as a lister found it: a standalone object, or an entry of a segment.
type found struct {
	ref     layout.BlockRef // for a block in a segment, Key is the segment's key
	segment *segment.Entry
	entry   int // the place of segment in its index
}

func (f found) copy() layout.BlockCopy {
	return layout.BlockCopy{Key: f.ref.Key, InSegment: f.segment != nil, Entry: f.entry}
}

// blockFilter says which blocks a command wants: those of partitions from a time on, or one id.
type blockFilter struct {
	from time.Time // zero: every partition
	id   string    // "": every block
}

func (f blockFilter) partition(p string) bool {
	if f.from.IsZero() {
		return true
	}
	// An undated block cannot be placed in time, so a time filter leaves it out.
	hour, dated := layout.BlockRef{Partition: p}.PartitionTime()
	return dated && !hour.Add(time.Hour).Before(f.from)
}

func (f blockFilter) keep(ref layout.BlockRef) bool {
	return f.partition(ref.Partition) && (f.id == "" || ref.ID == f.id)
}

// findBlocks lists the blocks of signals that the filter keeps, each id once per partition: the
// copy layout.CompareCopies puts first, so every run and every reader picks the same one. A
// corrupt segment is reported on warn and skipped.
func findBlocks(ctx context.Context, warn io.Writer, st store.Store, signals []layout.Signal, filter blockFilter) ([]found, error) {
	var standalone, segmented []found
	var segments []layout.SegmentRef
	for _, sig := range signals {
		err := st.List(ctx, layout.BlockListPrefix(sig), func(key string) error {
			if ref, ok := layout.ParseBlockKey(key); ok && filter.keep(ref) {
				standalone = append(standalone, found{ref: ref})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		err = st.List(ctx, layout.SegmentListPrefix(sig), func(key string) error {
			if ref, ok := layout.ParseSegmentKey(key); ok && filter.partition(ref.Partition) {
				segments = append(segments, ref)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(segments, func(i, j int) bool { return segments[i].Key < segments[j].Key })
	for _, seg := range segments {
		data, _, err := st.Get(ctx, seg.Key)
		if err != nil {
			return nil, err
		}
		idx, err := segment.Decode(data)
		if err != nil {
			if !segment.IsCorrupt(err) {
				return nil, err
			}
			fmt.Fprintf(warn, "blocks: skipped segment %s: %v\n", seg.Key, err)
			continue
		}
		for i := range idx.Entries {
			ref := layout.BlockRef{Key: seg.Key, Signal: seg.Signal, Partition: seg.Partition, ID: idx.Entries[i].ID.String()}
			if filter.keep(ref) {
				segmented = append(segmented, found{ref: ref, segment: &idx.Entries[i], entry: i})
			}
		}
	}
	all := append(standalone, segmented...)
	slices.SortStableFunc(all, func(a, b found) int { return layout.CompareCopies(a.copy(), b.copy()) })
	type copyOf struct{ signal, partition, id string }
	seen := map[copyOf]bool{}
	var out []found
	for _, f := range all {
		c := copyOf{string(f.ref.Signal), f.ref.Partition, f.ref.ID}
		if !seen[c] {
			seen[c] = true
			out = append(out, f)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].ref, out[j].ref
		if a.Signal != b.Signal || a.Partition != b.Partition {
			return a.Signal < b.Signal || a.Signal == b.Signal && a.Partition < b.Partition
		}
		return a.ID < b.ID
	})
	return out, nil
}

func listBlocks(ctx context.Context, out, warn io.Writer, st store.Store, signals []layout.Signal, from time.Time) error {
	blocks, err := findBlocks(ctx, warn, st, signals, blockFilter{from: from})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BLOCK_ID\tSIGNAL\tPARTITION\tKEY")
	for _, b := range blocks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.ref.ID, b.ref.Signal, b.ref.Partition, b.ref.Key)
	}
	return tw.Flush()
}

func showBlock(ctx context.Context, out, warn io.Writer, st store.Store, signals []layout.Signal, id string) error {
	id = strings.ToLower(strings.TrimSpace(id))
	blocks, err := findBlocks(ctx, warn, st, signals, blockFilter{id: id})
	if err != nil {
		return err
	}
	if len(blocks) == 0 {
		return fmt.Errorf("no block %s in %s", id, st)
	}
	b := blocks[0]
	data, _, err := st.Get(ctx, b.ref.Key)
	if err != nil {
		return err
	}
	if b.segment != nil {
		end := b.segment.Offset + b.segment.Length
		if end > uint64(len(data)) {
			return fmt.Errorf("block %s: segment %s changed since it was listed", id, b.ref.Key)
		}
		data = data[b.segment.Offset:end]
	}
	doc, err := otlpwire.ProtoToJSON(b.ref.Signal, data)
	if err != nil {
		return fmt.Errorf("block %s in %s: %w", id, b.ref.Key, err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, doc, "", "  "); err != nil {
		return err
	}
	pretty.WriteByte('\n')
	_, err = out.Write(pretty.Bytes())
	return err
}
