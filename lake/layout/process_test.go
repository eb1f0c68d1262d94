package layout

import (
	"encoding/json"
	"testing"
)

func TestNewProcessRecordReadsTheResourceAttributes(t *testing.T) {
	id := UUID{1}
	attrs := []ResourceAttribute{
		{Key: "service.name", Text: "checkout", JSON: json.RawMessage(`"checkout"`)},
		{Key: "service.namespace", Text: "shop", JSON: json.RawMessage(`"shop"`)},
		{Key: "host.name", Text: "old", JSON: json.RawMessage(`"old"`)},
		{Key: "host.name", Text: "box-1", JSON: json.RawMessage(`"box-1"`)},
		{Key: "process.pid", Text: "42", JSON: json.RawMessage(`42`)},
	}
	rec := NewProcessRecord(id, attrs, 1_764_000_000_000_000_000)
	if rec.ProcessID != id.String() || rec.Exe != "shop/checkout" || rec.Computer != "box-1" {
		t.Errorf("record %+v", rec)
	}
	if rec.StartTime != "2025-11-24T16:00:00Z" {
		t.Errorf("without process.creation.time the start is the first sight, got %q", rec.StartTime)
	}
	if string(rec.Properties["process.pid"]) != "42" || string(rec.Properties["host.name"]) != `"box-1"` {
		t.Errorf("properties %v", rec.Properties)
	}
}

func TestNewProcessRecordPrefersTheCreationTime(t *testing.T) {
	attrs := []ResourceAttribute{{Key: "process.creation.time", Text: "2026-01-02T03:04:05Z", JSON: json.RawMessage(`"2026-01-02T03:04:05Z"`)}}
	if rec := NewProcessRecord(UUID{}, attrs, 1); rec.StartTime != "2026-01-02T03:04:05Z" {
		t.Errorf("start %q", rec.StartTime)
	}
}

func TestBlockAddressIsTheIDAndKeyOfLayout(t *testing.T) {
	meta := BlockMeta{Signal: Logs, MinTime: 1_764_000_000_000_000_000}
	id, key := BlockAddress(meta, []byte("block"))
	if id != BlockID(Logs, []byte("block")) || key != BlockKey(Logs, meta.MinTime, id) {
		t.Errorf("address %s %s", id, key)
	}
}
