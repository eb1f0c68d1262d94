package segment

import (
	"bytes"
	"testing"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	"google.golang.org/protobuf/proto"

	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// openFile lays out records the way the segment writer appends them: a header, then the segment
// EncodeParts makes, for each group of blocks.
func openFile(t *testing.T, groups ...[]Block) (file []byte, ends []int) {
	t.Helper()
	for _, g := range groups {
		parts, size, _, err := EncodeParts(layout.Logs, g)
		if err != nil {
			t.Fatal(err)
		}
		file = AppendRecordHeader(file, size)
		for _, p := range parts {
			file = append(file, p...)
		}
		ends = append(ends, len(file))
	}
	return file, ends
}

func TestEncodePartsLaidEndToEndAreEncode(t *testing.T) {
	blocks, _ := logBlocks(t, 4, 2)
	whole, _, err := Encode(layout.Logs, blocks)
	if err != nil {
		t.Fatal(err)
	}
	parts, size, _, err := EncodeParts(layout.Logs, blocks)
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.Join(parts, nil); !bytes.Equal(got, whole) || size != len(whole) {
		t.Fatalf("EncodeParts gives %d bytes (size %d), Encode %d, or they differ", len(got), size, len(whole))
	}
	if &parts[0][0] != &blocks[0].Bytes[0] {
		t.Error("EncodeParts copied a block's bytes; it must pass them by reference")
	}
}

func TestScanOpenReadsEveryWholeRecordAndItsBlocks(t *testing.T) {
	blocks, _ := logBlocks(t, 6, 2)
	file, ends := openFile(t, blocks[:2], blocks[2:3], blocks[3:])
	records, end, torn := ScanOpen(file)
	if torn != "" || end != int64(len(file)) || len(records) != 3 {
		t.Fatalf("ScanOpen: %d records, end %d of %d, torn %q", len(records), end, len(file), torn)
	}
	var got []layout.UUID
	for _, r := range records {
		for i, e := range r.Index.Entries {
			b, err := r.Block(file, i)
			if err != nil {
				t.Fatal(err)
			}
			if layout.BlockID(layout.Logs, b) != e.ID {
				t.Errorf("record at %d, block %d: its bytes do not hash to its id", r.Offset, i)
			}
			got = append(got, e.ID)
		}
	}
	for i, b := range blocks {
		if got[i] != b.ID {
			t.Fatalf("block %d is %s, want %s, in the order appended", i, got[i], b.ID)
		}
	}
	if records[2].Offset+records[2].Length != int64(ends[2]) {
		t.Errorf("the last record ends at %d, the file at %d", records[2].Offset+records[2].Length, ends[2])
	}
}

// A crash can stop a write anywhere: cut at every byte, the scan keeps exactly the records that
// end before the cut, and says why it stopped.
func TestScanOpenCutAnywhereKeepsTheWholeRecordsBeforeTheCut(t *testing.T) {
	blocks, _ := logBlocks(t, 3, 2)
	file, ends := openFile(t, blocks[:1], blocks[1:2], blocks[2:])
	for cut := 0; cut < len(file); cut++ {
		want := 0
		for _, e := range ends {
			if e <= cut {
				want++
			}
		}
		records, end, torn := ScanOpen(file[:cut])
		if len(records) != want {
			t.Fatalf("cut at %d: %d records, want %d", cut, len(records), want)
		}
		wantEnd := 0
		if want > 0 {
			wantEnd = ends[want-1]
		}
		if end != int64(wantEnd) {
			t.Fatalf("cut at %d: whole records end at %d, want %d", cut, end, wantEnd)
		}
		if (torn == "") != (cut == wantEnd) {
			t.Fatalf("cut at %d: torn %q", cut, torn)
		}
	}
}

func TestScanOpenStopsAtGarbageAndAtADamagedRecord(t *testing.T) {
	blocks, _ := logBlocks(t, 3, 2)
	file, ends := openFile(t, blocks[:1], blocks[1:2], blocks[2:])
	t.Run("garbage after the last whole record is cut", func(t *testing.T) {
		withGarbage := append(bytes.Clone(file), bytes.Repeat([]byte{0xa5}, 300)...)
		records, end, torn := ScanOpen(withGarbage)
		if len(records) != 3 || end != int64(len(file)) || torn == "" {
			t.Fatalf("%d records, end %d, torn %q; want 3, %d and a reason", len(records), end, torn, len(file))
		}
	})
	t.Run("a flipped byte in a block ends the records there", func(t *testing.T) {
		damaged := bytes.Clone(file)
		damaged[ends[0]+RecordHeaderSize+3] ^= 0xff
		records, end, torn := ScanOpen(damaged)
		if len(records) != 1 || end != int64(ends[0]) || torn == "" {
			t.Fatalf("%d records, end %d, torn %q; want 1, %d and a reason", len(records), end, torn, ends[0])
		}
	})
}

// An open segment of one signal is, like a segment, one export request to any OTLP decoder.
func TestAnOpenSegmentDecodesWithThePlainOTLPTypes(t *testing.T) {
	blocks, entries := logBlocks(t, 4, 2)
	file, _ := openFile(t, blocks[:3], blocks[3:])
	var req collogs.ExportLogsServiceRequest
	if err := proto.Unmarshal(file, &req); err != nil {
		t.Fatal(err)
	}
	if len(req.ResourceLogs) != len(entries) {
		t.Fatalf("%d resource entries, want %d", len(req.ResourceLogs), len(entries))
	}
	for i := range entries {
		if !proto.Equal(req.ResourceLogs[i], entries[i]) {
			t.Errorf("entry %d differs", i)
		}
	}
}
