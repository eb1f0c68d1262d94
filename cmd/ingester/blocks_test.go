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

	"github.com/telemetrylake/telemetrylake/ingester/otlpwire"
	"github.com/telemetrylake/telemetrylake/lake/layout"
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
	if err := runBlocks([]string{"list", "--storage", storage}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), ids[0]) || !strings.Contains(out.String(), ids[1]) {
		t.Errorf("list shows\n%s\nwant both %v", out.String(), ids)
	}

	out.Reset()
	if err := runBlocks([]string{"list", "--storage", storage, "--signal", "logs", "--since", "24h"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), ids[0]) || strings.Contains(out.String(), ids[1]) {
		t.Errorf("--since 24h shows\n%s\nwant only %s", out.String(), ids[0])
	}

	out.Reset()
	if err := runBlocks([]string{"show", "--storage", storage, ids[0]}, &out); err != nil {
		t.Fatal(err)
	}
	// OTLP/JSON: hex trace ids, string-encoded 64-bit integers.
	for _, want := range []string{`"traceId": "abababababababababababababababab"`, `"timeUnixNano": "`, "landed at"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("show prints\n%s\nwithout %s", out.String(), want)
		}
	}

	if err := runBlocks([]string{"show", "--storage", storage, "00000000-0000-5000-8000-000000000000"}, &out); err == nil {
		t.Error("show of a missing block succeeded")
	}
}
