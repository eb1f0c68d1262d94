// Package segment is the byte format of a storage-v2 segment: many blocks of one signal and one
// hour written as one object, so that a flush costs one durable write instead of one per block.
//
// A segment is itself a valid Export<Signal>ServiceRequest. Each block is already a complete
// request holding one resource entry (field 1, the entry's bytes as sent), and protobuf defines
// the concatenation of two encodings of a message as their merge, so the blocks laid end to end
// are one request carrying every entry. After them come two fields that no OTLP message defines,
// which every OTLP decoder skips as unknown: the index, then a fixed-size trailer that says where
// the index is. A reader that wants one block reads the trailer and the index (one ranged read of
// the object's tail, usually) and then just that block's bytes; any OTLP tool can read the whole
// object as one export request.
//
//	block 0 bytes | block 1 bytes | … | index field | trailer field (TrailerSize bytes)
//
// Every block's bytes are checked against the crc32c in the index when read, and the index
// against the crc32c in the trailer, so a torn or corrupt segment is reported, never half-read.
//
// The package knows nothing of where segments are stored; lake/layout names them and lake/store
// keeps them. It must not depend on either, nor on HTTP.
package segment

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// The two field numbers sit near the top of protobuf's range (2^29-1), far from anything OTLP
// could add to an Export*ServiceRequest, whose only field is 1.
const (
	indexField   protowire.Number = 536_870_000
	trailerField protowire.Number = 536_870_001
)

// FormatV1 is the segment's format version, in the trailer and in the object's metadata.
const FormatV1 = "otlp-segment/v1"

const (
	// trailerMagic ends every segment; a reader that does not find it is not reading a segment.
	trailerMagic = "TLS1"
	// trailerPayload is the index's offset (8 bytes), length (4), crc32c (4) and the magic (4),
	// little-endian.
	trailerPayload = 20
	indexVersion   = 1
	// maxBlocks bounds what one index may claim, so a corrupt count cannot make a reader allocate
	// without limit.
	maxBlocks = 1 << 20
)

// TrailerSize is the length of the trailer field at the end of every segment.
var TrailerSize = protowire.SizeTag(trailerField) + protowire.SizeBytes(trailerPayload)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Block is one block to pack, as the ingester splits it from a request.
type Block struct {
	ID   layout.UUID
	Meta layout.BlockMeta
	// Bytes is a complete Export*ServiceRequest holding the block's one resource entry.
	Bytes []byte
}

// Entry is one block as the index describes it.
type Entry struct {
	ID layout.UUID
	// Offset and Length locate the block's bytes in the segment.
	Offset, Length uint64
	// CRC32C is the Castagnoli checksum of the block's bytes.
	CRC32C    uint32
	Records   int
	MinTime   uint64 // unix nanos, 0 when the block has no timestamp
	MaxTime   uint64
	ProcessID layout.UUID
}

// Meta returns the block's metadata as the one-object-per-block layout stored it.
func (e Entry) Meta(signal layout.Signal) layout.BlockMeta {
	return layout.BlockMeta{ProcessID: e.ProcessID, Signal: signal, Records: e.Records, MinTime: e.MinTime, MaxTime: e.MaxTime}
}

// Index is what a segment holds, read without decoding any block.
type Index struct {
	Signal  layout.Signal
	Entries []Entry
	// Records, MinTime and MaxTime summarise every entry.
	Records          int
	MinTime, MaxTime uint64
}

// Encode packs blocks of one signal into a segment. A block id that appears twice is packed once:
// equal ids mean equal bytes. Encode does not check that the blocks share an hour; the writer
// groups them by layout.BlockDir before it calls Encode.
func Encode(signal layout.Signal, blocks []Block) ([]byte, Index, error) {
	parts, size, idx, err := EncodeParts(signal, blocks)
	if err != nil {
		return nil, Index{}, err
	}
	buf := make([]byte, 0, size)
	for _, p := range parts {
		buf = append(buf, p...)
	}
	return buf, idx, nil
}

// EncodeParts is Encode without the copy: the segment is its parts laid end to end, the blocks'
// own bytes (not copied) and then the index and trailer, size bytes in all. A writer hands the
// parts to one vectored write, so a block of a megabyte is not copied on its way to the file.
func EncodeParts(signal layout.Signal, blocks []Block) (parts [][]byte, size int, idx Index, err error) {
	if len(blocks) == 0 {
		return nil, 0, Index{}, errors.New("segment: no blocks to encode")
	}
	if len(blocks) > maxBlocks {
		return nil, 0, Index{}, fmt.Errorf("segment: %d blocks is more than the %d one segment may hold", len(blocks), maxBlocks)
	}
	idx = Index{Signal: signal, Entries: make([]Entry, 0, len(blocks))}
	parts = make([][]byte, 0, len(blocks)+1)
	seen := make(map[layout.UUID]bool, len(blocks))
	for _, b := range blocks {
		if b.Meta.Signal != signal {
			return nil, 0, Index{}, fmt.Errorf("segment: block %s is %s, not %s: a segment holds one signal", b.ID, b.Meta.Signal, signal)
		}
		if seen[b.ID] {
			continue
		}
		seen[b.ID] = true
		e := Entry{
			ID: b.ID, Offset: uint64(size), Length: uint64(len(b.Bytes)),
			CRC32C:  crc32.Checksum(b.Bytes, castagnoli),
			Records: b.Meta.Records, MinTime: b.Meta.MinTime, MaxTime: b.Meta.MaxTime, ProcessID: b.Meta.ProcessID,
		}
		parts = append(parts, b.Bytes)
		size += len(b.Bytes)
		idx.add(e)
	}
	index := appendIndex(nil, idx)
	tail := make([]byte, 0, protowire.SizeTag(indexField)+protowire.SizeBytes(len(index))+TrailerSize)
	tail = protowire.AppendTag(tail, indexField, protowire.BytesType)
	tail = protowire.AppendVarint(tail, uint64(len(index)))
	indexOffset := size + len(tail)
	tail = append(tail, index...)
	tail = appendTrailer(tail, uint64(indexOffset), index)
	return append(parts, tail), size + len(tail), idx, nil
}

func (idx *Index) add(e Entry) {
	idx.Entries = append(idx.Entries, e)
	idx.Records += e.Records
	if e.MinTime != 0 && (idx.MinTime == 0 || e.MinTime < idx.MinTime) {
		idx.MinTime = e.MinTime
	}
	if e.MaxTime > idx.MaxTime {
		idx.MaxTime = e.MaxTime
	}
}

func appendTrailer(buf []byte, indexOffset uint64, index []byte) []byte {
	buf = protowire.AppendTag(buf, trailerField, protowire.BytesType)
	buf = protowire.AppendVarint(buf, trailerPayload)
	buf = binary.LittleEndian.AppendUint64(buf, indexOffset)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(index)))
	buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(index, castagnoli))
	return append(buf, trailerMagic...)
}

// ID is a segment's name: the hex of the first 16 bytes of the SHA-256 of its bytes. The same
// blocks in the same order give the same id, so a create-only write retried after an ambiguous
// failure finds itself already there.
func ID(segment []byte) string {
	sum := sha256.Sum256(segment)
	return hex.EncodeToString(sum[:16])
}

// IDOfParts is ID of the segment that parts (EncodeParts) make, without joining them.
func IDOfParts(parts [][]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Meta is the segment's metadata, kept with the object (S3 user metadata), so a lister learns
// what a segment holds without reading it.
func (idx Index) Meta() map[string]string {
	return map[string]string{
		layout.MetaSignal:  string(idx.Signal),
		MetaBlocks:         fmt.Sprint(len(idx.Entries)),
		layout.MetaRecords: fmt.Sprint(idx.Records),
		layout.MetaMinTime: fmt.Sprint(idx.MinTime),
		layout.MetaMaxTime: fmt.Sprint(idx.MaxTime),
		layout.MetaFormat:  FormatV1,
	}
}

// MetaBlocks is the metadata key of a segment's block count.
const MetaBlocks = "blocks"

// Index fields; the index is a protobuf message of its own, so it can grow fields compatibly.
const (
	idxVersion protowire.Number = 1
	idxSignal  protowire.Number = 2
	idxEntry   protowire.Number = 3
	entID      protowire.Number = 1
	entOffset  protowire.Number = 2
	entLength  protowire.Number = 3
	entCRC     protowire.Number = 4
	entRecords protowire.Number = 5
	entMinTime protowire.Number = 6
	entMaxTime protowire.Number = 7
	entProcess protowire.Number = 8
)

func appendIndex(b []byte, idx Index) []byte {
	b = protowire.AppendTag(b, idxVersion, protowire.VarintType)
	b = protowire.AppendVarint(b, indexVersion)
	b = protowire.AppendTag(b, idxSignal, protowire.BytesType)
	b = protowire.AppendString(b, string(idx.Signal))
	var e []byte
	for _, x := range idx.Entries {
		e = e[:0]
		e = protowire.AppendTag(e, entID, protowire.BytesType)
		e = protowire.AppendBytes(e, x.ID[:])
		e = protowire.AppendTag(e, entOffset, protowire.VarintType)
		e = protowire.AppendVarint(e, x.Offset)
		e = protowire.AppendTag(e, entLength, protowire.VarintType)
		e = protowire.AppendVarint(e, x.Length)
		e = protowire.AppendTag(e, entCRC, protowire.Fixed32Type)
		e = protowire.AppendFixed32(e, x.CRC32C)
		e = protowire.AppendTag(e, entRecords, protowire.VarintType)
		e = protowire.AppendVarint(e, uint64(x.Records))
		e = protowire.AppendTag(e, entMinTime, protowire.Fixed64Type)
		e = protowire.AppendFixed64(e, x.MinTime)
		e = protowire.AppendTag(e, entMaxTime, protowire.Fixed64Type)
		e = protowire.AppendFixed64(e, x.MaxTime)
		e = protowire.AppendTag(e, entProcess, protowire.BytesType)
		e = protowire.AppendBytes(e, x.ProcessID[:])
		b = protowire.AppendTag(b, idxEntry, protowire.BytesType)
		b = protowire.AppendBytes(b, e)
	}
	return b
}
