package segment

import (
	"encoding/binary"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// An open segment is the file a writer appends its flushes to on a file store, one record per
// segment of a flush, before it seals them into ordinary segments (docs/contracts/storage.md
// §5.7). A record is a header, then a whole segment exactly as Encode makes it:
//
//	record header (RecordHeaderSize bytes) | segment | record header | segment | …
//
// The header is one more field that no OTLP message defines, holding the segment's length and a
// magic, so an open segment too is one valid Export<Signal>ServiceRequest for a reader that only
// knows OTLP, as long as its records are of one signal. Each record's segment carries its own
// checks (every block's crc32c, the index's crc32c, the tiling), so a record is whole exactly when
// its segment decodes: a write torn by a crash, or garbage after it, fails there, and a reader
// stops at the first record that is not whole.
const (
	recordField protowire.Number = 536_870_002
	// recordPayload is the segment's length (8 bytes, little-endian) and the magic.
	recordPayload = 12
	recordMagic   = "TLR1"
)

// RecordHeaderSize is the length of the header before every record's segment.
var RecordHeaderSize = protowire.SizeTag(recordField) + protowire.SizeBytes(recordPayload)

// AppendRecordHeader appends the header of a record whose segment is segmentLen bytes.
func AppendRecordHeader(b []byte, segmentLen int) []byte {
	b = protowire.AppendTag(b, recordField, protowire.BytesType)
	b = protowire.AppendVarint(b, recordPayload)
	b = binary.LittleEndian.AppendUint64(b, uint64(segmentLen))
	return append(b, recordMagic...)
}

// Record is one whole record of an open segment: its segment lies at [Offset, Offset+Length) of
// the file, and Index is its checked index, whose offsets are the segment's own (from Offset).
type Record struct {
	Offset, Length int64
	Index          Index
}

// Block returns the bytes of the record's i-th block out of the open segment's bytes.
func (r Record) Block(file []byte, i int) ([]byte, error) {
	return r.Index.Block(file[r.Offset:r.Offset+r.Length], i)
}

// ScanOpen reads the records of an open segment's bytes, in order, each checked whole (Decode).
// It stops at the first record that is not whole: end is where the whole records end, and torn
// says what is wrong after them ("" when nothing is: end is len(data)). Bytes past end are a write
// torn by a crash, a write in progress (a reader beside a live writer sees that), or damage; none
// of them was ever acknowledged, since a flush is acknowledged only once its records are durable
// and a writer never appends after a record that failed.
func ScanOpen(data []byte) (records []Record, end int64, torn string) {
	for off := 0; off < len(data); {
		rest := data[off:]
		if len(rest) < RecordHeaderSize {
			return records, int64(off), fmt.Sprintf("%d bytes at %d are too short for a record header", len(rest), off)
		}
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 || num != recordField || typ != protowire.BytesType {
			return records, int64(off), fmt.Sprintf("no record header at %d", off)
		}
		payload, m := protowire.ConsumeBytes(rest[n:])
		if m < 0 || len(payload) != recordPayload || string(payload[8:]) != recordMagic {
			return records, int64(off), fmt.Sprintf("the record header at %d does not end in %q", off, recordMagic)
		}
		length := binary.LittleEndian.Uint64(payload[:8])
		start := off + RecordHeaderSize
		if length > uint64(len(data)-start) {
			return records, int64(off), fmt.Sprintf("the record at %d needs %d bytes, %d are there", off, length, len(data)-start)
		}
		idx, err := Decode(data[start : start+int(length)])
		if err != nil {
			return records, int64(off), fmt.Sprintf("the record at %d: %v", off, err)
		}
		records = append(records, Record{Offset: int64(start), Length: int64(length), Index: idx})
		off = start + int(length)
	}
	return records, int64(len(data)), ""
}
