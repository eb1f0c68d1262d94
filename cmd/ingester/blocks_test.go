package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"

	"github.com/telemetrylake/telemetrylake/ingester/groupcommit"
	"github.com/telemetrylake/telemetrylake/ingester/otlpwire"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/segment"
	"github.com/telemetrylake/telemetrylake/lake/store"
)

func TestBlocksListAndShowWhatLanded(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	hourAgo := time.Now().Add(-time.Hour)
	lastWeek := time.Now().Add(-7 * 24 * time.Hour)
	var ids []string
	for _, when := range []time.Time{hourAgo, lastWeek} {
		body, _ := proto.Marshal(&collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
			ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{
				TimeUnixNano: uint64(when.UnixNano()),
				TraceId:      bytes.Repeat([]byte{0xab}, 16),
				Body:         &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "landed at " + when.String()}},
			}}}},
		}}})
		blocks, err := otlpwire.Split(layout.Logs, body)
		if err != nil {
			t.Fatal(err)
		}
		id, key := layout.BlockAddress(blocks[0].Meta, blocks[0].Bytes)
		if _, err := st.Create(context.Background(), key, blocks[0].Bytes, blocks[0].Meta.Map()); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id.String())
	}
	storage := "file://" + dir

	var out bytes.Buffer
	if err := runBlocks([]string{"list", "--storage", storage}, &out, t.Output()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), ids[0]) || !strings.Contains(out.String(), ids[1]) {
		t.Errorf("list shows\n%s\nwant both %v", out.String(), ids)
	}

	out.Reset()
	if err := runBlocks([]string{"list", "--storage", storage, "--signal", "logs", "--since", "24h"}, &out, t.Output()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), ids[0]) || strings.Contains(out.String(), ids[1]) {
		t.Errorf("--since 24h shows\n%s\nwant only %s", out.String(), ids[0])
	}

	out.Reset()
	if err := runBlocks([]string{"show", "--storage", storage, ids[0]}, &out, t.Output()); err != nil {
		t.Fatal(err)
	}
	// OTLP/JSON: hex trace ids, string-encoded 64-bit integers.
	for _, want := range []string{`"traceId": "abababababababababababababababab"`, `"timeUnixNano": "`, "landed at"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("show prints\n%s\nwithout %s", out.String(), want)
		}
	}

	if err := runBlocks([]string{"show", "--storage", storage, "00000000-0000-5000-8000-000000000000"}, &out, t.Output()); err == nil {
		t.Error("show of a missing block succeeded")
	}
}

// logBlock is one block of a one-record logs request, split as the ingester splits it.
func logBlock(t *testing.T, body string, when time.Time) segment.Block {
	t.Helper()
	raw, _ := proto.Marshal(&collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{
			TimeUnixNano: uint64(when.UnixNano()),
			Body:         &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: body}},
		}}}},
	}}})
	blocks, err := otlpwire.Split(layout.Logs, raw)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := layout.BlockAddress(blocks[0].Meta, blocks[0].Bytes)
	return segment.Block{ID: id, Meta: blocks[0].Meta, Bytes: blocks[0].Bytes}
}

// storage.md §4: every reader counts a block once per partition, whether it sits in a standalone
// object, in one segment or in several (a retry that reached another ingester).
func TestBlocksListAndShowReadSegmentsAndCountEachBlockOnce(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	when := time.Now().Add(-time.Hour)
	shared := logBlock(t, "sent to two ingesters", when)
	only := logBlock(t, "sent once", when)
	record := func(int) ([]byte, error) { return []byte(`{}`), nil }
	// Two writers over one store: each writes its own segment holding the shared block.
	for _, blocks := range [][]segment.Block{{shared, only}, {shared}} {
		w := groupcommit.New(groupcommit.Config{Store: st})
		if _, err := w.Write(ctx, blocks, record); err != nil {
			t.Fatal(err)
		}
		w.Close(ctx)
	}
	// And the shared block once more in the old one-object-per-block layout.
	if _, err := st.Create(ctx, layout.BlockKey(layout.Logs, shared.Meta.MinTime, shared.ID), shared.Bytes, shared.Meta.Map()); err != nil {
		t.Fatal(err)
	}
	// A corrupt segment beside them is reported, not read.
	torn := layout.SegmentKey(layout.Logs, shared.Meta.MinTime, "0000torn")
	if _, err := st.Create(ctx, torn, []byte("not a segment"), nil); err != nil {
		t.Fatal(err)
	}
	storage := "file://" + dir

	var out, warn bytes.Buffer
	if err := runBlocks([]string{"list", "--storage", storage}, &out, &warn); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"+shared.ID.String()+" "); n != 1 {
		t.Errorf("list shows the shared block %d times, want once:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), only.ID.String()) {
		t.Errorf("list does not show the block that sits only in a segment:\n%s", out.String())
	}
	if !strings.Contains(warn.String(), torn) {
		t.Errorf("the corrupt segment %s was not reported: %q", torn, warn.String())
	}

	out.Reset()
	if err := runBlocks([]string{"show", "--storage", storage, only.ID.String()}, &out, &warn); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "sent once") {
		t.Errorf("show of a block in a segment prints\n%s", out.String())
	}
}
