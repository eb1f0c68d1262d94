package segment

import (
	"bytes"
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"

	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// logBlocks makes n blocks the way the ingester splits them: each a whole
// ExportLogsServiceRequest holding one resource entry.
func logBlocks(t testing.TB, n, recordsEach int) ([]Block, []*logspb.ResourceLogs) {
	t.Helper()
	var blocks []Block
	var entries []*logspb.ResourceLogs
	for i := range n {
		rl := &logspb.ResourceLogs{
			Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{
				Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: fmt.Sprintf("svc-%d", i)}},
			}}},
		}
		sl := &logspb.ScopeLogs{}
		for j := range recordsEach {
			sl.LogRecords = append(sl.LogRecords, &logspb.LogRecord{
				TimeUnixNano: uint64(1_700_000_000_000_000_000 + i*1000 + j),
				Body:         &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: fmt.Sprintf("line %d.%d", i, j)}},
			})
		}
		rl.ScopeLogs = []*logspb.ScopeLogs{sl}
		raw, err := proto.Marshal(&collogs.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{rl}})
		if err != nil {
			t.Fatal(err)
		}
		id := layout.BlockID(layout.Logs, raw)
		blocks = append(blocks, Block{ID: id, Bytes: raw, Meta: layout.BlockMeta{
			Signal: layout.Logs, Records: recordsEach, ProcessID: layout.UUID{byte(i)},
			MinTime: uint64(1_700_000_000_000_000_000 + i*1000), MaxTime: uint64(1_700_000_000_000_000_000 + i*1000 + recordsEach - 1),
		}})
		entries = append(entries, rl)
	}
	return blocks, entries
}

// The storage contract's promise: a segment is one Export*ServiceRequest that any OTLP decoder
// reads into exactly its blocks' entries, skipping the index and trailer as unknown fields.
func TestASegmentDecodesWithThePlainOTLPTypesIntoItsBlocksEntries(t *testing.T) {
	blocks, entries := logBlocks(t, 5, 3)
	seg, idx, err := Encode(layout.Logs, blocks)
	if err != nil {
		t.Fatal(err)
	}
	var req collogs.ExportLogsServiceRequest
	if err := proto.Unmarshal(seg, &req); err != nil {
		t.Fatalf("proto.Unmarshal of a segment: %v", err)
	}
	if len(req.ResourceLogs) != len(entries) {
		t.Fatalf("the segment decodes into %d entries, want %d", len(req.ResourceLogs), len(entries))
	}
	for i := range entries {
		if !proto.Equal(req.ResourceLogs[i], entries[i]) {
			t.Errorf("entry %d differs from the block it came from", i)
		}
	}
	if idx.Records != 15 || len(idx.Entries) != 5 || idx.MinTime != blocks[0].Meta.MinTime || idx.MaxTime != blocks[4].Meta.MaxTime {
		t.Errorf("index summary: %d records, %d entries, %d..%d", idx.Records, len(idx.Entries), idx.MinTime, idx.MaxTime)
	}
}

func TestTheIndexAgreesWithTheBytes(t *testing.T) {
	blocks, _ := logBlocks(t, 7, 2)
	seg, written, err := Encode(layout.Logs, blocks)
	if err != nil {
		t.Fatal(err)
	}
	read, err := Decode(seg)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if fmt.Sprint(read) != fmt.Sprint(written) {
		t.Fatalf("the index read back differs from the one written:\n%v\n%v", read, written)
	}
	for i, b := range blocks {
		got, err := read.Block(seg, i)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, b.Bytes) || read.Entries[i].ID != b.ID || read.Entries[i].Meta(layout.Logs) != b.Meta {
			t.Errorf("block %d: the index does not describe the block that was packed", i)
		}
		if layout.BlockID(layout.Logs, got) != read.Entries[i].ID {
			t.Errorf("block %d: its bytes do not hash to the id the index gives", i)
		}
	}
}

// countingReader counts the ranged reads a reader makes, as an S3 reader would count GETs.
type countingReader struct {
	r     *bytes.Reader
	reads int
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.reads++
	return c.r.ReadAt(p, off)
}

func TestAReaderFindsTheIndexInOneRangedReadUnlessTheIndexIsHuge(t *testing.T) {
	for _, tc := range []struct {
		name      string
		blocks    int
		wantReads int
	}{
		{"one block", 1, 1},
		{"a hundred blocks", 100, 1},
		{"an index larger than the first read", 4000, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blocks, _ := logBlocks(t, tc.blocks, 1)
			seg, written, err := Encode(layout.Logs, blocks)
			if err != nil {
				t.Fatal(err)
			}
			r := &countingReader{r: bytes.NewReader(seg)}
			got, err := ReadIndex(r, int64(len(seg)))
			if err != nil {
				t.Fatal(err)
			}
			if r.reads != tc.wantReads {
				t.Errorf("%d ranged reads, want %d", r.reads, tc.wantReads)
			}
			if fmt.Sprint(got) != fmt.Sprint(written) {
				t.Errorf("ReadIndex differs from the index written")
			}
		})
	}
}

func TestACorruptSegmentIsReportedNeverHalfRead(t *testing.T) {
	blocks, _ := logBlocks(t, 3, 2)
	seg, idx, err := Encode(layout.Logs, blocks)
	if err != nil {
		t.Fatal(err)
	}
	indexStart := len(seg) - TrailerSize - 10
	for _, tc := range []struct {
		name  string
		spoil func([]byte) []byte
	}{
		{"a flipped byte in a block", func(b []byte) []byte { b[idx.Entries[1].Offset+5] ^= 0x40; return b }},
		{"a flipped byte in the index", func(b []byte) []byte { b[indexStart] ^= 0x01; return b }},
		{"a flipped byte in the trailer", func(b []byte) []byte { b[len(b)-1] ^= 0x01; return b }},
		{"a torn tail", func(b []byte) []byte { return b[:len(b)-7] }},
		{"only the first block", func(b []byte) []byte { return b[:idx.Entries[1].Offset] }},
		{"a plain export request", func([]byte) []byte { return blocks[0].Bytes }},
		{"nothing", func([]byte) []byte { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spoilt := tc.spoil(bytes.Clone(seg))
			_, err := Decode(spoilt)
			if !IsCorrupt(err) {
				t.Fatalf("Decode: %v, want a CorruptError", err)
			}
		})
	}
}

func TestABlockSentTwiceIsPackedOnce(t *testing.T) {
	blocks, _ := logBlocks(t, 2, 1)
	seg, idx, err := Encode(layout.Logs, []Block{blocks[0], blocks[1], blocks[0]})
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Entries) != 2 || idx.Records != 2 {
		t.Errorf("%d entries and %d records, want 2 and 2", len(idx.Entries), idx.Records)
	}
	once, _, _ := Encode(layout.Logs, blocks)
	if ID(seg) != ID(once) {
		t.Errorf("the repeat changed the segment's bytes")
	}
}

func TestTheSameBlocksGiveTheSameSegmentID(t *testing.T) {
	blocks, _ := logBlocks(t, 4, 2)
	a, _, _ := Encode(layout.Logs, blocks)
	b, _, _ := Encode(layout.Logs, blocks)
	if ID(a) != ID(b) || len(ID(a)) != 32 {
		t.Errorf("ids %s and %s", ID(a), ID(b))
	}
	c, _, _ := Encode(layout.Logs, blocks[1:])
	if ID(c) == ID(a) {
		t.Errorf("different blocks gave the same id")
	}
}

func TestASegmentHoldsOneSignal(t *testing.T) {
	blocks, _ := logBlocks(t, 1, 1)
	raw, _ := proto.Marshal(&coltrace.ExportTraceServiceRequest{})
	span := Block{ID: layout.BlockID(layout.Traces, raw), Bytes: raw, Meta: layout.BlockMeta{Signal: layout.Traces}}
	if _, _, err := Encode(layout.Logs, append(blocks, span)); err == nil {
		t.Fatal("Encode packed a traces block into a logs segment")
	}
	if _, _, err := Encode(layout.Logs, nil); err == nil {
		t.Fatal("Encode made a segment of no blocks")
	}
}

func FuzzDecode(f *testing.F) {
	blocks, _ := logBlocks(f, 3, 2)
	seg, _, _ := Encode(layout.Logs, blocks)
	f.Add(seg)
	f.Add(seg[:len(seg)-1])
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := Decode(b)
		if err != nil {
			if !IsCorrupt(err) {
				t.Fatalf("an error that is not a CorruptError: %v", err)
			}
			return
		}
		for i := range idx.Entries {
			if _, err := idx.Block(b, i); err != nil {
				t.Fatalf("Decode accepted a segment whose block %d does not read: %v", i, err)
			}
		}
		if _, err := ReadIndex(bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatalf("Decode accepted what ReadIndex refuses: %v", err)
		}
	})
}

// The Collector's pdata has a decoder of its own, not the protobuf runtime's: it must skip the
// index and trailer too.
func TestTheCollectorsDecoderReadsASegmentAsOneRequest(t *testing.T) {
	blocks, _ := logBlocks(t, 4, 3)
	seg, _, err := Encode(layout.Logs, blocks)
	if err != nil {
		t.Fatal(err)
	}
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(seg); err != nil {
		t.Fatalf("pdata: %v", err)
	}
	if got := req.Logs().ResourceLogs().Len(); got != 4 {
		t.Errorf("pdata reads %d resource entries, want 4", got)
	}
	if got := req.Logs().LogRecordCount(); got != 12 {
		t.Errorf("pdata reads %d log records, want 12", got)
	}
}
