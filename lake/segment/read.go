package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// CorruptError says why bytes are not a whole, intact segment. Readers report it with the
// segment's name and skip the segment; they never read a part of one.
type CorruptError struct{ Reason string }

func (e *CorruptError) Error() string { return "not an intact segment: " + e.Reason }

func corrupt(format string, args ...any) error {
	return &CorruptError{Reason: fmt.Sprintf(format, args...)}
}

// IsCorrupt says whether err is a CorruptError.
func IsCorrupt(err error) bool {
	var c *CorruptError
	return errors.As(err, &c)
}

// TailSize is how much of a segment's end a reader fetches first: the trailer and, for any
// segment of up to some two thousand blocks, the whole index, so that one ranged read usually
// locates every block.
const TailSize = 128 << 10

// indexRange is where the trailer says the index is.
type indexRange struct {
	offset uint64
	length uint32
	crc    uint32
}

// parseTrailer reads the trailer at the end of tail, the last bytes of a segment of size bytes.
func parseTrailer(tail []byte, size int64) (indexRange, error) {
	if len(tail) < TrailerSize {
		return indexRange{}, corrupt("%d bytes are too short for the %d-byte trailer", len(tail), TrailerSize)
	}
	t := tail[len(tail)-TrailerSize:]
	num, typ, n := protowire.ConsumeTag(t)
	if n < 0 || num != trailerField || typ != protowire.BytesType {
		return indexRange{}, corrupt("the last %d bytes are not a segment trailer", TrailerSize)
	}
	payload, m := protowire.ConsumeBytes(t[n:])
	if m < 0 || len(payload) != trailerPayload || string(payload[16:]) != trailerMagic {
		return indexRange{}, corrupt("the trailer does not end in %q", trailerMagic)
	}
	r := indexRange{
		offset: binary.LittleEndian.Uint64(payload[0:8]),
		length: binary.LittleEndian.Uint32(payload[8:12]),
		crc:    binary.LittleEndian.Uint32(payload[12:16]),
	}
	if r.offset > uint64(size) || r.offset+uint64(r.length) != uint64(size)-uint64(TrailerSize) {
		return indexRange{}, corrupt("the trailer puts the index at %d+%d, but the trailer starts at %d", r.offset, r.length, size-int64(TrailerSize))
	}
	return r, nil
}

// Decode reads and checks a whole segment: the trailer, the index, and that the blocks, the index
// and the trailer tile the object exactly, with every block's checksum right.
func Decode(seg []byte) (Index, error) {
	rng, err := parseTrailer(seg, int64(len(seg)))
	if err != nil {
		return Index{}, err
	}
	idx, err := decodeIndexAt(seg[rng.offset:], rng)
	if err != nil {
		return Index{}, err
	}
	for i := range idx.Entries {
		if _, err := idx.Block(seg, i); err != nil {
			return Index{}, err
		}
	}
	return idx, nil
}

// checkTiling checks that the index's blocks lie end to end from the segment's start up to the
// index, which the trailer locates.
func checkTiling(idx Index, rng indexRange) error {
	var end uint64
	for i, e := range idx.Entries {
		if e.Offset != end {
			return corrupt("block %d (%s) starts at %d, not at %d where the one before it ends", i, e.ID, e.Offset, end)
		}
		end = e.Offset + e.Length
	}
	if header := uint64(protowire.SizeTag(indexField) + protowire.SizeVarint(uint64(rng.length))); end+header != rng.offset {
		return corrupt("the blocks end at %d, but the index starts at %d", end, rng.offset)
	}
	return nil
}

// Block returns the bytes of the index's i-th block out of the segment's bytes, after checking
// them against its checksum. seg may be the whole segment or any prefix that holds the block.
func (idx Index) Block(seg []byte, i int) ([]byte, error) {
	e := idx.Entries[i]
	if e.Offset+e.Length > uint64(len(seg)) || e.Offset+e.Length < e.Offset {
		return nil, corrupt("block %d (%s) at %d+%d lies past the %d bytes read", i, e.ID, e.Offset, e.Length, len(seg))
	}
	b := seg[e.Offset : e.Offset+e.Length]
	if err := e.Check(b); err != nil {
		return nil, corrupt("block %d %s", i, err.(*CorruptError).Reason)
	}
	return b, nil
}

// Check says whether b, read from the segment at the entry's offset (a ranged read of just the
// block), is the block the entry describes: its length and crc32c.
func (e Entry) Check(b []byte) error {
	if uint64(len(b)) != e.Length {
		return corrupt("(%s): %d bytes read, the index says %d", e.ID, len(b), e.Length)
	}
	if got := crc32.Checksum(b, castagnoli); got != e.CRC32C {
		return corrupt("(%s): crc32c %08x, the index says %08x", e.ID, got, e.CRC32C)
	}
	return nil
}

// ReadIndex reads a segment's index through r with ranged reads: the last TailSize bytes, and a
// second read only for an index larger than that. size is the segment's length. It checks the
// trailer, the index's checksum and that the blocks tile the segment; each block's checksum is
// checked when it is read (Index.Block), and Decode checks them all.
func ReadIndex(r io.ReaderAt, size int64) (Index, error) {
	tailLen := min(size, TailSize)
	tail := make([]byte, tailLen)
	if _, err := r.ReadAt(tail, size-tailLen); err != nil && !errors.Is(err, io.EOF) {
		return Index{}, err
	}
	rng, err := parseTrailer(tail, size)
	if err != nil {
		return Index{}, err
	}
	tailStart := uint64(size - tailLen)
	if rng.offset >= tailStart {
		return decodeIndexAt(tail[rng.offset-tailStart:], rng)
	}
	index := make([]byte, rng.length)
	if _, err := r.ReadAt(index, int64(rng.offset)); err != nil && !errors.Is(err, io.EOF) {
		return Index{}, err
	}
	return decodeIndexAt(index, rng)
}

// decodeIndexAt decodes the index at the start of b, whose range the trailer gave, and checks
// that it and the blocks it lists tile the segment.
func decodeIndexAt(b []byte, rng indexRange) (Index, error) {
	if uint64(len(b)) < uint64(rng.length) {
		return Index{}, corrupt("the index needs %d bytes, %d are there", rng.length, len(b))
	}
	b = b[:rng.length]
	if got := crc32.Checksum(b, castagnoli); got != rng.crc {
		return Index{}, corrupt("index crc32c %08x, the trailer says %08x", got, rng.crc)
	}
	idx, err := parseIndex(b)
	if err != nil {
		return Index{}, err
	}
	return idx, checkTiling(idx, rng)
}

func parseIndex(b []byte) (Index, error) {
	var idx Index
	version := uint64(0)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return Index{}, corrupt("index: a bad tag")
		}
		b = b[n:]
		switch {
		case num == idxVersion && typ == protowire.VarintType:
			version, n = protowire.ConsumeVarint(b)
		case num == idxSignal && typ == protowire.BytesType:
			var s []byte
			s, n = protowire.ConsumeBytes(b)
			if n >= 0 {
				sig, err := layout.ParseSignal(string(s))
				if err != nil {
					return Index{}, corrupt("index: %v", err)
				}
				idx.Signal = sig
			}
		case num == idxEntry && typ == protowire.BytesType:
			var raw []byte
			raw, n = protowire.ConsumeBytes(b)
			if n >= 0 {
				if len(idx.Entries) >= maxBlocks {
					return Index{}, corrupt("index: more than %d blocks", maxBlocks)
				}
				e, err := parseEntry(raw)
				if err != nil {
					return Index{}, err
				}
				idx.add(e)
			}
		default:
			// A field of a later minor version: skip it.
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return Index{}, corrupt("index: field %d is cut short", num)
		}
		b = b[n:]
	}
	if version != indexVersion {
		return Index{}, corrupt("index version %d, this reader knows %d", version, indexVersion)
	}
	if idx.Signal == "" {
		return Index{}, corrupt("index: no signal")
	}
	return idx, nil
}

func parseEntry(b []byte) (Entry, error) {
	var e Entry
	var haveID, haveProcess bool
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return Entry{}, corrupt("index entry: a bad tag")
		}
		b = b[n:]
		var v uint64
		var raw []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v32 uint32
			v32, n = protowire.ConsumeFixed32(b)
			v = uint64(v32)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			raw, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return Entry{}, corrupt("index entry: field %d is cut short", num)
		}
		b = b[n:]
		switch num {
		case entID:
			if len(raw) != len(e.ID) {
				return Entry{}, corrupt("index entry: a block id of %d bytes", len(raw))
			}
			copy(e.ID[:], raw)
			haveID = true
		case entOffset:
			e.Offset = v
		case entLength:
			e.Length = v
		case entCRC:
			e.CRC32C = uint32(v)
		case entRecords:
			e.Records = int(v)
		case entMinTime:
			e.MinTime = v
		case entMaxTime:
			e.MaxTime = v
		case entProcess:
			if len(raw) != len(e.ProcessID) {
				return Entry{}, corrupt("index entry: a process id of %d bytes", len(raw))
			}
			copy(e.ProcessID[:], raw)
			haveProcess = true
		}
	}
	if !haveID || !haveProcess {
		return Entry{}, corrupt("index entry: no block id or no process id")
	}
	return e, nil
}
