package layout

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The ids are a public contract: a change here means every retry after an upgrade would write a
// second copy of its block. These golden values pin them.
func TestIDsAreStable(t *testing.T) {
	if got := BlockID(Logs, []byte("hello")).String(); got != "e1c41daa-b1db-5452-8249-f537197b0668" {
		t.Errorf("BlockID = %s", got)
	}
	pid := ProcessID(func(k string) string {
		return map[string]string{"service.name": "claude-code", "host.name": "box", "process.pid": "42"}[k]
	})
	if got := pid.String(); got != "cce43db7-01d5-5343-9ee7-c0fede2af2b0" {
		t.Errorf("ProcessID = %s", got)
	}
}

// uuidV5 must agree with an independent implementation of RFC 4122 name-based UUIDs.
func TestIDsAgreeWithRFC4122(t *testing.T) {
	block := []byte("a block's bytes")
	want := uuid.NewSHA1(uuid.UUID(blockNamespace), append([]byte("traces\x1f"), block...))
	if got := BlockID(Traces, block); got != UUID(want) {
		t.Errorf("BlockID = %s, RFC 4122 says %s", got, want)
	}
}

func TestUUIDsAreVersion5(t *testing.T) {
	u := BlockID(Traces, nil)
	if u[6]>>4 != 5 || u[8]>>6 != 2 {
		t.Errorf("%s is not an RFC 4122 version 5 UUID", u)
	}
	if BlockID(Traces, []byte("x")) == BlockID(Logs, []byte("x")) {
		t.Error("the signal is not part of the block id")
	}
}

func TestProcessIDNormalizesAllButPidAndCreationTime(t *testing.T) {
	id := func(attrs map[string]string) UUID { return ProcessID(func(k string) string { return attrs[k] }) }
	if id(map[string]string{"host.name": " Box "}) != id(map[string]string{"host.name": "box"}) {
		t.Error("host.name is not lower-cased and trimmed")
	}
	if id(map[string]string{"process.creation.time": "2026-01-01T00:00:00Z "}) == id(map[string]string{"process.creation.time": "2026-01-01T00:00:00Z"}) {
		t.Error("process.creation.time was normalized; it must be taken verbatim")
	}
}

func TestBlockKeysFollowTheLayout(t *testing.T) {
	id := BlockID(Metrics, []byte("b"))
	when := uint64(time.Date(2026, 11, 27, 13, 59, 59, 0, time.UTC).UnixNano())
	for _, tc := range []struct {
		minTime uint64
		want    string
	}{
		{when, "blocks/metrics/2026-11-27/13/" + id.String() + ".pb"},
		{0, "blocks/metrics/undated/" + id.String() + ".pb"},
		{1 << 63, "blocks/metrics/undated/" + id.String() + ".pb"},
	} {
		key := BlockKey(Metrics, tc.minTime, id)
		if key != tc.want {
			t.Errorf("BlockKey(%d) = %s, want %s", tc.minTime, key, tc.want)
		}
		ref, ok := ParseBlockKey(key)
		if !ok || ref.ID != id.String() || ref.Signal != Metrics || ref.Key != key {
			t.Errorf("ParseBlockKey(%s) = %+v, %v", key, ref, ok)
		}
	}
	if ref, _ := ParseBlockKey(BlockKey(Logs, when, id)); ref.Partition != "2026-11-27/13" {
		t.Errorf("partition %q", ref.Partition)
	} else if hour, ok := ref.PartitionTime(); !ok || !hour.Equal(time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)) {
		t.Errorf("partition time %v %v", hour, ok)
	}
}

func TestParseBlockKeyRefusesWhatIsNotABlock(t *testing.T) {
	for _, key := range []string{
		"processes/x.json",
		"blocks/logs/2026-11-27/13/x.pb.meta.json",
		"blocks/profiles/2026-11-27/13/x.pb",
		"blocks/logs/x.pb",
		"blocks/logs/2026-11-27/x.pb",
		"tables/log_entries/date=2026-11-27/hour=13/p.parquet",
	} {
		if ref, ok := ParseBlockKey(key); ok {
			t.Errorf("%s parsed as a block: %+v", key, ref)
		}
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"15m":                  now.Add(-15 * time.Minute),
		"24h":                  now.Add(-24 * time.Hour),
		"2026-01-01T00:00:00Z": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got, err := ParseTime(in, now); err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseTime("yesterday", now); err == nil {
		t.Error("ParseTime accepted yesterday")
	}
}

func TestListPrefixesEndInASlashAndHoldTheirKeys(t *testing.T) {
	id := BlockID(Logs, []byte("b"))
	day := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	when := uint64(day.Add(13 * time.Hour).UnixNano())
	for _, tc := range []struct{ prefix, want, key string }{
		{BlockListPrefix(Logs), "blocks/logs/", BlockKey(Logs, when, id)},
		{BlockDayListPrefix(Logs, day.Add(13*time.Hour)), "blocks/logs/2026-11-27/", BlockKey(Logs, when, id)},
		{UndatedBlockListPrefix(Logs), "blocks/logs/undated/", BlockKey(Logs, 0, id)},
		{PartDayListPrefix("log_entries", day), "tables/log_entries/date=2026-11-27/", PartKey("log_entries", day.Add(13*time.Hour), "p")},
	} {
		if tc.prefix != tc.want {
			t.Errorf("prefix %s, want %s", tc.prefix, tc.want)
		}
		if !strings.HasPrefix(tc.key, tc.prefix) {
			t.Errorf("%s is not under %s", tc.key, tc.prefix)
		}
	}
	if got := ProcessKey(id); got != "processes/"+id.String()+".json" {
		t.Errorf("ProcessKey = %s", got)
	}
}

// TestPartKeysAreHiveStyleAndParseBack pins docs/contracts/storage.md §4.4: part keys.
func TestPartKeysAreHiveStyleAndParseBack(t *testing.T) {
	hour := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	key := PartKey("measures", hour, "abc")
	if key != "tables/measures/date=2026-01-02/hour=15/abc.parquet" {
		t.Fatalf("key = %s", key)
	}
	if dir := TableDir("measures") + "/" + strings.NewReplacer("${date}", "2026-01-02", "${hour}", "15").Replace(PartLocationTemplate); dir != PartHourDir("measures", hour) {
		t.Errorf("the location template gives %s, the parts are in %s", dir, PartHourDir("measures", hour))
	}
	ref, ok := ParsePartKey(key)
	if !ok || ref.Table != "measures" || !ref.Hour.Equal(hour) || ref.Name != "abc" || ref.Key != key {
		t.Errorf("ParsePartKey(%s) = %+v, %v", key, ref, ok)
	}
	for _, bad := range []string{
		"tables/measures/date=2026-01-02/hour=15/abc.json",
		"tables/measures/date=2026-01-02/abc.parquet",
		"tables/measures/date=2026-13-02/hour=15/abc.parquet",
		"tables/measures/2026-01-02/15/abc.parquet",
		"blocks/logs/2026-01-02/15/abc.pb",
	} {
		if _, ok := ParsePartKey(bad); ok {
			t.Errorf("ParsePartKey accepted %s", bad)
		}
	}
}

func TestContentTypeFollowsTheKeysSuffix(t *testing.T) {
	for key, want := range map[string]string{
		"blocks/logs/2026-01-02/15/x.pb":                       "application/x-protobuf",
		"processes/p.json":                                     "application/json",
		"tables/log_entries/date=2026-01-02/hour=15/p.parquet": "application/vnd.apache.parquet",
		"something/else":                                       "application/octet-stream",
	} {
		if got := ContentType(key); got != want {
			t.Errorf("ContentType(%s) = %s, want %s", key, got, want)
		}
	}
}

func TestTenantsMayDeleteOnlyParts(t *testing.T) {
	for prefix, want := range map[string]Grants{
		"":          {Objects: "*", Deletable: []string{"tables/*", "segments/*"}},
		"team-a/x/": {Objects: "team-a/x/*", Deletable: []string{"team-a/x/tables/*", "team-a/x/segments/*"}},
	} {
		got := PolicyResources(prefix)
		if got.Objects != want.Objects || strings.Join(got.Deletable, ",") != strings.Join(want.Deletable, ",") {
			t.Errorf("PolicyResources(%q) = %+v, want %+v", prefix, got, want)
		}
	}
}

func TestReadOnlyKeysReadEveryObjectOfTheTenantOnly(t *testing.T) {
	for prefix, want := range map[string]string{"": "*", "team-a/x/": "team-a/x/*"} {
		if got := ReadOnlyResources(prefix); got != want {
			t.Errorf("ReadOnlyResources(%q) = %q, want %q", prefix, got, want)
		}
		if got := PolicyResources(prefix).Objects; got != want {
			t.Errorf("PolicyResources(%q).Objects = %q: the read-write key must read what the read-only key reads, %q", prefix, got, want)
		}
	}
}

// Storage contract: segments/<signal>/<YYYY-MM-DD>/<HH>/<segment_id>.seg, dated by the blocks'
// own hour, and segments/<signal>/undated/ for blocks with no time.
func TestSegmentsAreKeptUnderTheirBlocksHour(t *testing.T) {
	at := uint64(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC).UnixNano())
	for _, tc := range []struct {
		min  uint64
		want string
	}{
		{at, "segments/logs/2026-03-04/05/abc.seg"},
		{0, "segments/logs/undated/abc.seg"},
	} {
		key := SegmentKey(Logs, tc.min, "abc")
		if key != tc.want {
			t.Errorf("SegmentKey = %q, want %q", key, tc.want)
		}
		ref, ok := ParseSegmentKey(key)
		if !ok || ref.ID != "abc" || ref.Signal != Logs {
			t.Errorf("ParseSegmentKey(%q) = %+v, %v", key, ref, ok)
		}
	}
	for _, notSegment := range []string{"blocks/logs/undated/abc.pb", "segments/logs/abc.seg", "segments/nope/undated/abc.seg", "segments/logs/undated/abc.pb"} {
		if _, ok := ParseSegmentKey(notSegment); ok {
			t.Errorf("ParseSegmentKey(%q) took it for a segment", notSegment)
		}
	}
}

func TestSegmentListPrefixesHoldTheirKeys(t *testing.T) {
	day := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	when := uint64(day.Add(13 * time.Hour).UnixNano())
	for _, tc := range []struct{ prefix, want, key string }{
		{SegmentListPrefix(Traces), "segments/traces/", SegmentKey(Traces, when, "s")},
		{SegmentDayListPrefix(Traces, day.Add(13*time.Hour)), "segments/traces/2026-11-27/", SegmentKey(Traces, when, "s")},
		{UndatedSegmentListPrefix(Traces), "segments/traces/undated/", SegmentKey(Traces, 0, "s")},
	} {
		if tc.prefix != tc.want || !strings.HasPrefix(tc.key, tc.prefix) {
			t.Errorf("prefix %s (want %s) for %s", tc.prefix, tc.want, tc.key)
		}
	}
	ref, _ := ParseSegmentKey(SegmentKey(Traces, when, "s"))
	if hour, ok := ref.PartitionTime(); !ok || !hour.Equal(day.Add(13*time.Hour)) {
		t.Errorf("PartitionTime = %v, %v", hour, ok)
	}
}

// storage.md §5.4: readers read a standalone copy first, then segments by key, then by place.
func TestReadersPreferTheStandaloneCopyThenTheFirstSegment(t *testing.T) {
	copies := []BlockCopy{
		{Key: "segments/logs/2026-01-02/03/b.seg", InSegment: true, Entry: 0},
		{Key: "segments/logs/2026-01-02/03/a.seg", InSegment: true, Entry: 5},
		{Key: "blocks/logs/2026-01-02/03/x.pb"},
		{Key: "segments/logs/2026-01-02/03/a.seg", InSegment: true, Entry: 2},
	}
	slices.SortFunc(copies, CompareCopies)
	want := []string{"blocks/logs/2026-01-02/03/x.pb", "segments/logs/2026-01-02/03/a.seg#2", "segments/logs/2026-01-02/03/a.seg#5", "segments/logs/2026-01-02/03/b.seg#0"}
	for i, c := range copies {
		got := c.Key
		if c.InSegment {
			got = fmt.Sprintf("%s#%d", c.Key, c.Entry)
		}
		if got != want[i] {
			t.Errorf("copy %d is %s, want %s", i, got, want[i])
		}
	}
}

func TestFirstCopiesKeepsTheStandaloneBlockElseTheFirstSegment(t *testing.T) {
	copies := []struct {
		BlockCopy
		block string
	}{
		{BlockCopy{Key: "segments/logs/b.seg", InSegment: true, Entry: 0}, "logs/x"},
		{BlockCopy{Key: "segments/logs/a.seg", InSegment: true, Entry: 3}, "logs/x"},
		{BlockCopy{Key: "segments/logs/a.seg", InSegment: true, Entry: 1}, "logs/y"},
		{BlockCopy{Key: "blocks/logs/y.pb"}, "logs/y"},
		{BlockCopy{Key: "segments/traces/a.seg", InSegment: true, Entry: 0}, "traces/x"},
	}
	kept := FirstCopies(len(copies), func(i int) BlockCopy { return copies[i].BlockCopy }, func(i int) string { return copies[i].block })
	var got []string
	for _, i := range kept {
		got = append(got, copies[i].block+"@"+copies[i].Key)
	}
	want := []string{"logs/y@blocks/logs/y.pb", "logs/x@segments/logs/a.seg", "traces/x@segments/traces/a.seg"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("kept %v, want %v", got, want)
	}
}
