// Package layout is the storage layout contract of the lake: how blocks, process records and the
// lakehouse's Parquet parts are named, identified and described, which prefixes a reader lists,
// and which of them a tenant's credentials may delete. The ingester writes by it and every reader
// of the lake (the `blocks` CLI, the lakehouse, other engines) reads by it, and the operator
// grants a tenant's IAM user by it, so it is the one place where these facts live: no other
// package spells a prefix, a suffix or a partition format. It must never depend on how objects
// are stored (file or S3) or on HTTP.
package layout

import (
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// Signal is one of the three OTLP signals; its string is used in object keys and metrics.
type Signal string

const (
	Logs    Signal = "logs"
	Metrics Signal = "metrics"
	Traces  Signal = "traces"
)

// Signals lists every signal in a stable order.
var Signals = []Signal{Logs, Metrics, Traces}

// ParseSignal accepts the names used in keys and URLs.
func ParseSignal(s string) (Signal, error) {
	switch Signal(s) {
	case Logs, Metrics, Traces:
		return Signal(s), nil
	}
	return "", fmt.Errorf("unknown signal %q: want logs, metrics or traces", s)
}

// UUID is an RFC 4122 UUID in binary form.
type UUID [16]byte

func (u UUID) String() string {
	const hexdigits = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, x := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hexdigits[x>>4], hexdigits[x&0xf]
		j += 2
	}
	return string(b[:])
}

// The two namespaces are part of the public contract: changing either would give every block and
// process a new id, so a retried POST would no longer collapse onto the object it wrote before.
var (
	processNamespace = UUID{0x0b, 0x5a, 0xe3, 0x45, 0x25, 0x69, 0x4b, 0xa1, 0x9c, 0x0c, 0xbe, 0x25, 0x18, 0xd5, 0xf2, 0x04}
	blockNamespace   = UUID{0xa2, 0x01, 0x06, 0x06, 0xe7, 0xdf, 0x45, 0xf1, 0xbb, 0xdd, 0xbc, 0x02, 0xb1, 0x98, 0xf1, 0xab}
)

// uuidV5 hashes the namespace and the parts in order without joining them into one buffer first,
// because block bodies can be megabytes and the hash runs on every request.
func uuidV5(namespace UUID, parts ...[]byte) UUID {
	h := sha1.New()
	h.Write(namespace[:])
	for _, p := range parts {
		h.Write(p)
	}
	var sum [sha1.Size]byte
	h.Sum(sum[:0])
	var u UUID
	copy(u[:], sum[:16])
	u[6] = (u[6] & 0x0f) | 0x50 // version 5
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 4122 variant
	return u
}

const unitSeparator = "\x1f"

// BlockID is the content address of a block: identical bytes of the same signal always give the
// same id, which is what makes retries idempotent.
func BlockID(signal Signal, block []byte) UUID {
	return uuidV5(blockNamespace, []byte(signal), []byte(unitSeparator), block)
}

// ProcessIdentityKeys are the resource attributes that identify a process, in hashing order.
var ProcessIdentityKeys = []string{
	"host.id", "host.name", "process.pid", "process.creation.time", "service.namespace",
	"service.name", "service.instance.id", "process.owner", "os.type", "os.version", "os.name",
	"os.description", "os.build_id", "host.arch", "host.type", "host.image.id", "host.image.name",
	"host.image.version", "service.version", "telemetry.sdk.name", "telemetry.sdk.language",
	"telemetry.sdk.version", "process.runtime.name", "process.runtime.version",
	"process.runtime.description",
}

// verbatimIdentityKeys are compared exactly: a pid or a creation time is not text to normalize.
var verbatimIdentityKeys = map[string]bool{"process.pid": true, "process.creation.time": true}

// ProcessID derives the stable process id from resource attribute values rendered as strings
// (lookup returns "" for a missing attribute).
func ProcessID(lookup func(key string) string) UUID {
	var b strings.Builder
	for i, k := range ProcessIdentityKeys {
		if i > 0 {
			b.WriteString(unitSeparator)
		}
		v := lookup(k)
		if !verbatimIdentityKeys[k] {
			v = strings.ToLower(strings.TrimSpace(v))
		}
		b.WriteString(v)
	}
	return uuidV5(processNamespace, []byte(b.String()))
}

// The top-level prefixes of the lake, relative to the tenant prefix: the ingester's blocks and
// process records, and the lakehouse's Parquet parts beside them.
const (
	BlocksPrefix    = "blocks"
	ProcessesPrefix = "processes"
	TablesPrefix    = "tables"
)

// The suffixes that say what an object is.
const (
	BlockSuffix   = ".pb"
	ProcessSuffix = ".json"
	PartSuffix    = ".parquet"
)

// The media types of the lake's objects, as S3 serves them to other engines.
const (
	BlockContentType   = "application/x-protobuf"
	ProcessContentType = "application/json"
	PartContentType    = "application/vnd.apache.parquet"
)

// ContentType is the media type of the object at key, known by its suffix. A key of none of the
// lake's kinds is opaque bytes.
func ContentType(key string) string {
	switch {
	case strings.HasSuffix(key, BlockSuffix):
		return BlockContentType
	case strings.HasSuffix(key, ProcessSuffix):
		return ProcessContentType
	case strings.HasSuffix(key, PartSuffix):
		return PartContentType
	}
	return "application/octet-stream"
}

// Undated is the partition of blocks that carry no timestamp at all.
const Undated = "undated"

// The UTC day and hour of a partition, as time layouts. Blocks are partitioned by plain
// directories, YYYY-MM-DD/HH; parts by Hive-style ones (see PartHourDir).
const (
	dayFormat       = "2006-01-02"
	hourFormat      = "15"
	blockHourFormat = dayFormat + "/" + hourFormat
)

// BlockKey is where a block lives, relative to the tenant prefix. minTimeUnixNano is the earliest
// non-zero timestamp in the block, or 0 for none.
func BlockKey(signal Signal, minTimeUnixNano uint64, id UUID) string {
	return path.Join(BlockDir(signal, minTimeUnixNano), id.String()+BlockSuffix)
}

// BlockDir is the partition directory of a block, relative to the tenant prefix.
func BlockDir(signal Signal, minTimeUnixNano uint64) string {
	if minTimeUnixNano == 0 || minTimeUnixNano > maxRepresentableNanos {
		return path.Join(BlocksPrefix, string(signal), Undated)
	}
	t := time.Unix(0, int64(minTimeUnixNano)).UTC()
	return path.Join(BlocksPrefix, string(signal), t.Format(blockHourFormat))
}

// maxRepresentableNanos keeps a hostile timestamp from overflowing int64 into a negative date.
const maxRepresentableNanos = uint64(1<<63 - 1)

// The list prefixes below end in a slash, so that listing "blocks/logs/2026-01-02/" never also
// finds a sibling whose name merely starts the same way.

// BlockListPrefix is where every block of a signal lives, for listing.
func BlockListPrefix(signal Signal) string { return listPrefix(BlocksPrefix, signal) }

// BlockDayListPrefix is where a signal's blocks of one UTC day live, for listing.
func BlockDayListPrefix(signal Signal, day time.Time) string {
	return listPrefix(BlocksPrefix, signal, day.UTC().Format(dayFormat))
}

// UndatedBlockListPrefix is where a signal's blocks without a timestamp live, for listing.
func UndatedBlockListPrefix(signal Signal) string { return listPrefix(BlocksPrefix, signal, Undated) }

// listPrefix is <prefix>/<signal>/<dirs…>/, the shape blocks and segments share.
func listPrefix(prefix string, signal Signal, dirs ...string) string {
	return path.Join(append([]string{prefix, string(signal)}, dirs...)...) + "/"
}

// ProcessKey is where a process record lives, relative to the tenant prefix.
func ProcessKey(id UUID) string {
	return path.Join(ProcessesPrefix, id.String()+ProcessSuffix)
}

// Block metadata keys, stored as S3 user metadata or in the file backend's sidecar.
const (
	MetaProcessID = "process-id"
	MetaSignal    = "signal"
	MetaRecords   = "records"
	MetaMinTime   = "min-time"
	MetaMaxTime   = "max-time"
	MetaFormat    = "format"
	FormatOTLPv1  = "otlp-proto/v1"
)

// BlockMeta describes a stored block without decoding it.
type BlockMeta struct {
	ProcessID UUID
	Signal    Signal
	Records   int
	MinTime   uint64 // unix nanos, 0 when the block has no timestamp
	MaxTime   uint64
}

// Map renders the metadata as string pairs; times are unix nanoseconds in decimal so that readers
// get them exactly.
func (m BlockMeta) Map() map[string]string {
	return map[string]string{
		MetaProcessID: m.ProcessID.String(),
		MetaSignal:    string(m.Signal),
		MetaRecords:   strconv.Itoa(m.Records),
		MetaMinTime:   strconv.FormatUint(m.MinTime, 10),
		MetaMaxTime:   strconv.FormatUint(m.MaxTime, 10),
		MetaFormat:    FormatOTLPv1,
	}
}

// BlockRef is a block found by listing: its key and what the key alone says.
type BlockRef struct {
	Key       string
	Signal    Signal
	Partition string // "YYYY-MM-DD/HH" or "undated"
	ID        string
}

// ParseBlockKey reads a key relative to the tenant prefix; ok is false for anything that is not a
// block (a sidecar, a temp file, a process record).
func ParseBlockKey(key string) (ref BlockRef, ok bool) {
	return parsePartitioned(key, BlocksPrefix, BlockSuffix)
}

// parsePartitioned reads <prefix>/<signal>/<YYYY-MM-DD>/<HH>/<id><suffix> or
// <prefix>/<signal>/undated/<id><suffix>: the shape blocks and segments share.
func parsePartitioned(key, prefix, suffix string) (ref BlockRef, ok bool) {
	parts := strings.Split(key, "/")
	if len(parts) < 4 || parts[0] != prefix || !strings.HasSuffix(key, suffix) {
		return BlockRef{}, false
	}
	signal, err := ParseSignal(parts[1])
	if err != nil {
		return BlockRef{}, false
	}
	id := strings.TrimSuffix(parts[len(parts)-1], suffix)
	switch {
	case len(parts) == 4 && parts[2] == Undated:
		return BlockRef{Key: key, Signal: signal, Partition: Undated, ID: id}, true
	case len(parts) == 5:
		return BlockRef{Key: key, Signal: signal, Partition: parts[2] + "/" + parts[3], ID: id}, true
	}
	return BlockRef{}, false
}

// PartitionTime is the start of a dated partition's hour; ok is false for "undated".
func (r BlockRef) PartitionTime() (t time.Time, ok bool) {
	t, err := time.Parse(blockHourFormat, r.Partition)
	return t, err == nil
}

// ProcessRecord is the JSON document stored at ProcessKey on the first sight of a process.
type ProcessRecord struct {
	ProcessID string `json:"process_id"`
	// Exe is service.namespace/service.name, or service.name alone.
	Exe       string `json:"exe"`
	Computer  string `json:"computer"`
	Username  string `json:"username"`
	Distro    string `json:"distro"`
	CPUBrand  string `json:"cpu_brand"`
	StartTime string `json:"start_time"`
	// Properties holds every resource attribute, each value as JSON of its AnyValue type.
	Properties map[string]json.RawMessage `json:"properties"`
}

// ParseTime reads a time given to a reader of the lake (--since, --until): RFC 3339, or a
// duration back from now such as 15m or 24h.
func ParseTime(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2026-01-02T15:04:05Z) or a duration back from now (24h)", s)
	}
	return t, nil
}
