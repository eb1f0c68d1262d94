//go:build cgo

package lakehouse

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/ingester/groupcommit"
	"github.com/telemetrylake/telemetrylake/ingester/otlpwire"
	lakeblocks "github.com/telemetrylake/telemetrylake/lake/blocks"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/segment"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/lakehouse/parts"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// request is one OTLP export request of a signal.
type request struct {
	signal layout.Signal
	body   []byte
}

func serviceResource(service string) *resourcepb.Resource {
	return &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
		{Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: service}}},
	}}
}

// spansRequest is one export request from one service with n spans starting at t+0s, t+1s, ...
func spansRequest(t *testing.T, service string, at time.Time, n int) []byte {
	t.Helper()
	rs := &tracepb.ResourceSpans{Resource: serviceResource(service), ScopeSpans: []*tracepb.ScopeSpans{{}}}
	for i := range n {
		start := at.Add(time.Duration(i) * time.Second)
		rs.ScopeSpans[0].Spans = append(rs.ScopeSpans[0].Spans, &tracepb.Span{
			TraceId:           []byte(fmt.Sprintf("trace-%-10s", service))[:16],
			SpanId:            []byte(fmt.Sprintf("span%04d", i)),
			Name:              fmt.Sprintf("%s op %d", service, i),
			StartTimeUnixNano: uint64(start.UnixNano()),
			EndTimeUnixNano:   uint64(start.Add(time.Duration(i+1) * time.Millisecond).UnixNano()),
		})
	}
	b, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{rs}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gaugeRequest is one export request from one service with n gauge points at t+0s, t+1s, ...
func gaugeRequest(t *testing.T, service string, at time.Time, n int) []byte {
	t.Helper()
	g := &metricspb.Gauge{}
	for i := range n {
		g.DataPoints = append(g.DataPoints, &metricspb.NumberDataPoint{
			TimeUnixNano: uint64(at.Add(time.Duration(i) * time.Second).UnixNano()),
			Value:        &metricspb.NumberDataPoint_AsDouble{AsDouble: float64(i) / 4},
		})
	}
	rm := &metricspb.ResourceMetrics{Resource: serviceResource(service), ScopeMetrics: []*metricspb.ScopeMetrics{{
		Metrics: []*metricspb.Metric{{Name: "queue.depth", Data: &metricspb.Metric_Gauge{Gauge: g}}},
	}}}
	b, err := proto.Marshal(&colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{rm}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mixedRequests are requests of every signal over two hours, and a block with no time.
func mixedRequests(t *testing.T, hour time.Time) []request {
	return []request{
		{layout.Logs, logsRequest(t, "checkout", hour.Add(5*time.Minute), 10)},
		{layout.Logs, logsRequest(t, "payments", hour.Add(20*time.Minute), 7)},
		{layout.Logs, logsRequest(t, "checkout", hour.Add(70*time.Minute), 4)},
		{layout.Logs, logsRequest(t, "undated", time.Unix(0, 0), 1)},
		{layout.Traces, spansRequest(t, "checkout", hour.Add(6*time.Minute), 5)},
		{layout.Traces, spansRequest(t, "payments", hour.Add(80*time.Minute), 3)},
		{layout.Metrics, gaugeRequest(t, "checkout", hour.Add(7*time.Minute), 6)},
		{layout.Metrics, gaugeRequest(t, "payments", hour.Add(75*time.Minute), 2)},
	}
}

// splitRequest splits a request into its blocks, as the ingester does.
func splitRequest(t *testing.T, r request) []segment.Block {
	t.Helper()
	split, err := otlpwire.Split(r.signal, r.body)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []segment.Block
	for _, b := range split {
		id, _ := layout.BlockAddress(b.Meta, b.Bytes)
		blocks = append(blocks, segment.Block{ID: id, Meta: b.Meta, Bytes: b.Bytes})
	}
	return blocks
}

// storeBlocks stores the requests' blocks as standalone objects, as today's ingester does.
func storeBlocks(t *testing.T, st store.Store, reqs ...request) {
	t.Helper()
	for _, r := range reqs {
		for _, b := range splitRequest(t, r) {
			_, key := layout.BlockAddress(b.Meta, b.Bytes)
			if _, err := st.Create(context.Background(), key, b.Bytes, b.Meta.Map()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// writeSegments writes the requests through one segment writer, as one ingester pod of storage v2
// would, one Write per request, and closes it. Each Write is its own flush, so every request's
// blocks of a signal and hour make a segment.
func writeSegments(t *testing.T, st store.Store, reqs ...request) {
	t.Helper()
	ctx := context.Background()
	w := groupcommit.New(groupcommit.Config{Store: st})
	for _, r := range reqs {
		blocks := splitRequest(t, r)
		record := func(i int) ([]byte, error) {
			return json.Marshal(layout.ProcessRecord{ProcessID: blocks[i].Meta.ProcessID.String()})
		}
		if _, err := w.Write(ctx, blocks, record); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// readerOf is a lakehouse over a store, with no ingester.
func readerOf(t *testing.T, storage string) *lake {
	t.Helper()
	return &lake{Storage: storage, Store: harness.OpenStore(t, storage), cacheDir: t.TempDir()}
}

// tableQueries read every row of every table in a fixed order.
var tableQueries = map[string]string{
	"log_entries": `SELECT * FROM log_entries ORDER BY block_id, time, body`,
	"measures":    `SELECT * FROM measures ORDER BY block_id, time`,
	"otel_spans":  `SELECT * FROM otel_spans ORDER BY block_id, start_time, span_id`,
	"processes":   `SELECT * FROM processes ORDER BY process_id`,
}

// everyRow reads every table of the lake over the window.
func (l *lake) everyRow(t *testing.T, window []string) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for table, q := range tableQueries {
		out[table] = l.query(t, q, window...)
	}
	return out
}

func (l *lake) materialize(t *testing.T, window []string) run {
	t.Helper()
	r := l.lakehouse(t, append([]string{"materialize"}, window...)...)
	if r.code != 0 {
		t.Fatalf("materialize exited %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	return r
}

func sameRows(t *testing.T, what string, got, want map[string][]map[string]any) {
	t.Helper()
	for table := range tableQueries {
		if len(want[table]) == 0 {
			t.Fatalf("%s: the reference lake has no %s rows; the test proves nothing", what, table)
		}
		if !reflect.DeepEqual(got[table], want[table]) {
			t.Errorf("%s: %s has %d rows, want %d; first differences:\n got %v\nwant %v",
				what, table, len(got[table]), len(want[table]), firstOf(got[table]), firstOf(want[table]))
		}
	}
}

func firstOf(rows []map[string]any) any {
	if len(rows) == 0 {
		return nil
	}
	return rows[0]
}

func windowOf(hour time.Time, hours int) []string {
	return []string{"--since", hour.Format(time.RFC3339), "--until", hour.Add(time.Duration(hours) * time.Hour).Format(time.RFC3339)}
}

// TestALakeOfSegmentsAnswersAsTheSameBlocksStoredAlone: a lake written by the segment writer
// gives `lakehouse sql` the rows, in every table, that the same requests stored as standalone
// blocks give, before and after materialize. It pins docs/contracts/storage.md §5.5.
func TestALakeOfSegmentsAnswersAsTheSameBlocksStoredAlone(t *testing.T) {
	for _, b := range harness.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			hour := time.Now().UTC().Add(-4 * time.Hour).Truncate(time.Hour)
			window := windowOf(hour, 2)
			reqs := mixedRequests(t, hour)
			// The reference lake is a file store: one SeaweedFS per test, its keys in the environment.
			alone, segs := readerOf(t, "file://"+t.TempDir()), readerOf(t, b.Storage(t))
			storeBlocks(t, alone.Store, reqs...)
			writeSegments(t, segs.Store, reqs...)
			if len(segs.keys(t, layout.SegmentsPrefix+"/")) == 0 || len(segs.keys(t, layout.BlocksPrefix+"/")) != 0 {
				t.Fatal("the segment writer wrote no segment, or standalone blocks")
			}

			want := alone.everyRow(t, window)
			sameRows(t, "fresh from segments", segs.everyRow(t, window), want)

			alone.materialize(t, window)
			r := segs.materialize(t, window)
			if !strings.Contains(r.stdout, "skipped    0 blocks") || strings.Contains(r.stdout, "segments") {
				t.Errorf("materialize skipped something:\n%s", r.stdout)
			}
			sameRows(t, "materialized from segments", segs.everyRow(t, window), want)
			sameRows(t, "materialized from blocks", alone.everyRow(t, window), want)
			// Only the undated block is never materialized.
			if s := segs.session(t, hour).Stats; s.FreshBlocks != 1 {
				t.Errorf("after materialize a query decoded %d blocks afresh, want 1, the undated one", s.FreshBlocks)
			}
		})
	}
}

// TestAnIngesterWritingOneObjectPerBlockGivesTheSameAnswers runs the SDK round trip and the
// exactly-once walk over an ingester that writes one object per block, the layout before storage
// v2, which lakes may still hold; the other tests' ingesters write segments, the default.
func TestAnIngesterWritingOneObjectPerBlockGivesTheSameAnswers(t *testing.T) {
	for _, b := range harness.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Run("the SDK's telemetry comes back once with the right values", func(t *testing.T) {
				l := startLakeWith(t, b.Storage(t), ingesterconfig.LayoutBlocks)
				sdkTelemetryOnce(t, l)
				if len(l.keys(t, layout.BlocksPrefix+"/")) == 0 || len(l.keys(t, layout.SegmentsPrefix+"/")) != 0 {
					t.Error("the ingester wrote no standalone block, or segments")
				}
			})
			t.Run("each block is counted once whatever happens", func(t *testing.T) {
				eachBlockOnce(t, startLakeWith(t, b.Storage(t), ingesterconfig.LayoutBlocks))
			})
		})
	}
}

// TestABlockInSeveralObjectsCountsOnce: in a lake of both layouts, the same blocks standalone, in
// a segment, and in another segment (a retry that reached another ingester pod) count once in
// every table, before and after materialize. It pins docs/contracts/lakehouse.md §2.
func TestABlockInSeveralObjectsCountsOnce(t *testing.T) {
	for _, b := range harness.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			hour := time.Now().UTC().Add(-4 * time.Hour).Truncate(time.Hour)
			window := windowOf(hour, 2)
			reqs := mixedRequests(t, hour)
			ref := readerOf(t, "file://"+t.TempDir())
			storeBlocks(t, ref.Store, reqs...)
			want := ref.everyRow(t, window)

			l := readerOf(t, b.Storage(t))
			// Two pods: each writes every request but the last, the second with an extra block
			// beside each request's, so that its segments hold the same blocks under other names.
			inSegments := reqs[:len(reqs)-1]
			var wg sync.WaitGroup
			for pod := range 2 {
				wg.Go(func() {
					var mine []request
					for i, r := range inSegments {
						if pod == 1 {
							r = request{r.signal, append(append([]byte{}, r.body...), extraEntry(t, r.signal, hour, i)...)}
						}
						mine = append(mine, r)
					}
					writeSegments(t, l.Store, mine...)
				})
			}
			wg.Wait()
			if n := len(l.keys(t, layout.SegmentsPrefix+"/")); n != 2*len(inSegments) {
				t.Fatalf("%d segments, want %d: one per request and pod", n, 2*len(inSegments))
			}
			// And some blocks standalone, as today's ingester writes them: a few that segments
			// hold too, and the last request's, in no segment.
			storeBlocks(t, l.Store, reqs[0], reqs[4], reqs[6], reqs[len(reqs)-1])

			// The extra entries are service "extra": leave them out to compare.
			// Each extra entry is one row, and one block whose process is the same.
			wantExtra := map[string]int{"log_entries": 4, "otel_spans": 2, "measures": 1, "processes": 1}
			got := l.everyRow(t, window)
			if extra := dropExtra(got); !reflect.DeepEqual(extra, wantExtra) {
				t.Errorf("rows of the extra entries: %v, want %v", extra, wantExtra)
			}
			sameRows(t, "fresh", got, want)

			r := l.materialize(t, window)
			if !strings.Contains(r.stdout, "skipped    0 blocks") {
				t.Errorf("materialize skipped blocks:\n%s", r.stdout)
			}
			got = l.everyRow(t, window)
			if extra := dropExtra(got); !reflect.DeepEqual(extra, wantExtra) {
				t.Errorf("materialized rows of the extra entries: %v, want %v", extra, wantExtra)
			}
			sameRows(t, "materialized", got, want)
			if again := l.materialize(t, window); !strings.Contains(again.stdout, "0 written") {
				t.Errorf("a second materialize wrote parts:\n%s", again.stdout)
			}
		})
	}
}

// extraEntry is one more resource entry of a signal, from service "extra", to append to a
// request's body (a request is its entries end to end).
func extraEntry(t *testing.T, signal layout.Signal, hour time.Time, i int) []byte {
	at := hour.Add(time.Duration(30+i) * time.Minute)
	switch signal {
	case layout.Logs:
		return logsRequest(t, "extra", at, 1)
	case layout.Traces:
		return spansRequest(t, "extra", at, 1)
	}
	return gaugeRequest(t, "extra", at, 1)
}

// dropExtra leaves out the rows of service "extra", and its process, and counts them by table.
func dropExtra(tables map[string][]map[string]any) map[string]int {
	dropped := map[string]int{}
	for table, rows := range tables {
		kept := rows[:0]
		for _, r := range rows {
			if r["service_name"] == "extra" {
				dropped[table]++
				continue
			}
			kept = append(kept, r)
		}
		tables[table] = kept
	}
	return dropped
}

// TestACorruptSegmentIsReportedAndSkipped: a segment that is not intact is named in the query's
// warnings and the materialize summary, none of its blocks is read, and the other segments still
// load.
func TestACorruptSegmentIsReportedAndSkipped(t *testing.T) {
	for _, b := range harness.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			hour := time.Now().UTC().Add(-4 * time.Hour).Truncate(time.Hour)
			window := windowOf(hour, 1)
			l := readerOf(t, b.Storage(t))
			good := request{layout.Logs, logsRequest(t, "checkout", hour.Add(5*time.Minute), 10)}
			doomed := request{layout.Logs, logsRequest(t, "payments", hour.Add(6*time.Minute), 3)}
			writeSegments(t, l.Store, good)
			before := l.keys(t, layout.SegmentsPrefix+"/")

			// The doomed segment is written, then its copy with one block byte flipped takes a name
			// of its own; the intact original is never stored.
			scratch := readerOf(t, "file://"+t.TempDir())
			writeSegments(t, scratch.Store, doomed)
			keys := scratch.keys(t, layout.SegmentsPrefix+"/")
			if len(keys) != 1 || len(before) != 1 {
				t.Fatalf("segments: %v and %v, want one each", before, keys)
			}
			data, _, err := scratch.Store.Get(ctx, keys[0])
			if err != nil {
				t.Fatal(err)
			}
			data[10] ^= 0xff
			bad := strings.TrimSuffix(keys[0], layout.SegmentSuffix) + "-bad" + layout.SegmentSuffix
			if _, err := l.Store.Create(ctx, bad, data, nil); err != nil {
				t.Fatal(err)
			}

			r := l.lakehouse(t, append([]string{"sql", "--format", "json"}, append(window, `SELECT count(*) AS n FROM log_entries`)...)...)
			if r.code != 0 {
				t.Fatalf("sql exited %d: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, "segment "+bad+" skipped") || !strings.Contains(r.stderr, "crc32c") {
				t.Errorf("the warnings do not name the corrupt segment and why:\n%s", r.stderr)
			}
			if got := l.one(t, `SELECT count(*) AS n FROM log_entries`, window...)["n"]; got != 10.0 {
				t.Errorf("%v rows, want the good segment's 10", got)
			}
			if s := l.session(t, hour).Stats; s.SkippedSegments != 1 {
				t.Errorf("stats count %d skipped segments, want 1", s.SkippedSegments)
			}

			m := l.materialize(t, window)
			if !strings.Contains(m.stdout, "skipped    1 segments") || !strings.Contains(m.stdout, bad) {
				t.Errorf("the summary does not name the corrupt segment:\n%s", m.stdout)
			}
			if got := l.one(t, `SELECT count(*) AS n FROM log_entries`, window...)["n"]; got != 10.0 {
				t.Errorf("after materialize: %v rows, want 10", got)
			}

			// The intact original lands too, as a retry through another pod would write it. Its
			// name sorts after the corrupt copy's, which readers would read first; that copy's
			// index is intact and a block of it is not, so a reader finds out only when it reads
			// the blocks, and then lists again without it.
			writeSegments(t, l.Store, doomed)
			if got := l.one(t, `SELECT count(*) AS n FROM log_entries`, window...)["n"]; got != 13.0 {
				t.Errorf("with an intact copy of the corrupt segment's blocks: %v rows, want 13", got)
			}
			if s := l.session(t, hour).Stats; s.SkippedSegments != 1 {
				t.Errorf("stats count %d skipped segments, want the corrupt one", s.SkippedSegments)
			}
		})
	}
}

// getCounter counts the reads of each object.
type getCounter struct {
	store.Store
	mu    sync.Mutex
	gets  map[string]int
	bytes map[string]int // read, when set
}

func (c *getCounter) Get(ctx context.Context, key string) ([]byte, map[string]string, error) {
	data, meta, err := c.Store.Get(ctx, key)
	c.count(key, len(data))
	return data, meta, err
}

func (c *getCounter) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, int64, error) {
	data, size, err := c.Store.GetRange(ctx, key, offset, length)
	c.count(key, len(data))
	return data, size, err
}

func (c *getCounter) count(key string, n int) {
	c.mu.Lock()
	c.gets[key]++
	if c.bytes != nil {
		c.bytes[key] += n
	}
	c.mu.Unlock()
}

// TestMaterializeReadsEachSegmentAtMostTwice: one read to list a segment's blocks, one to decode
// them, never a read per block; a query of an hour materialized since reads it once.
func TestMaterializeReadsEachSegmentAtMostTwice(t *testing.T) {
	for _, b := range harness.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			hour := time.Now().UTC().Add(-4 * time.Hour).Truncate(time.Hour)
			l := readerOf(t, b.Storage(t))
			var reqs []request
			for i := range 20 {
				// 300 records a block: the segment is larger than the tail a reader fetches first.
				reqs = append(reqs, request{layout.Logs, logsRequest(t, fmt.Sprintf("svc-%d", i), hour.Add(time.Duration(i)*time.Minute), 300)})
			}
			// One Write of all of them: one segment of 20 blocks.
			var all []byte
			for _, r := range reqs {
				all = append(all, r.body...)
			}
			writeSegments(t, l.Store, request{layout.Logs, all})
			segs := l.keys(t, layout.SegmentsPrefix+"/")
			if len(segs) != 1 {
				t.Fatalf("segments %v, want one", segs)
			}
			c := &getCounter{Store: l.Store, gets: map[string]int{}}
			sum, err := Materialize(context.Background(), MaterializeOptions{Store: c, Window: parts.Window{Since: hour, Until: hour.Add(time.Hour)}, CacheDir: l.cacheDir})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Blocks != 20 {
				t.Errorf("materialize decoded %d blocks, want 20", sum.Blocks)
			}
			if n := c.gets[segs[0]]; n > 2 {
				t.Errorf("materialize read the segment %d times, want at most 2", n)
			}
			t.Logf("materialize: %d GETs of one segment of 20 blocks", c.gets[segs[0]])

			// A query of the materialized hour reads the segment's tail to learn its blocks' ids,
			// and decodes none of them.
			clear(c.gets)
			c.bytes = map[string]int{}
			s, err := Open(context.Background(), QueryOptions{Store: c, Window: parts.Window{Since: hour, Until: hour.Add(time.Hour)}, CacheDir: l.cacheDir})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			whole, _, err := l.Store.Get(context.Background(), segs[0])
			if err != nil {
				t.Fatal(err)
			}
			size := len(whole)
			if read := c.bytes[segs[0]]; read > segment.TailSize || size <= segment.TailSize {
				t.Errorf("a query of the materialized hour read %d bytes of a %d-byte segment, want its last %d at most", read, size, segment.TailSize)
			}
			if n := c.gets[segs[0]]; n != 1 || s.Stats.FreshBlocks != 0 {
				t.Errorf("a query of the materialized hour read the segment %d times and decoded %d blocks, want 1 and 0", n, s.Stats.FreshBlocks)
			}
		})
	}
}

// TestOpenSegmentsAnswerAsTheSameBlocksStoredAlone: on a file store the segment writer appends to
// an open segment (storage.md §5.7). Its blocks answer at once, in every table, as the same
// blocks stored alone; with some of them also in sealed segments (a retry that reached another
// pod, or a seal in progress), after materialize, after the seal and after compaction, each
// counts once.
func TestOpenSegmentsAnswerAsTheSameBlocksStoredAlone(t *testing.T) {
	hour := time.Now().UTC().Add(-4 * time.Hour).Truncate(time.Hour)
	window := windowOf(hour, 2)
	reqs := mixedRequests(t, hour)
	alone := readerOf(t, "file://"+t.TempDir())
	storeBlocks(t, alone.Store, reqs...)
	want := alone.everyRow(t, window)

	l := readerOf(t, "file://"+t.TempDir())
	fileStore := l.Store.(*store.FileStore)
	open := groupcommit.NewOpenSegments(groupcommit.OpenConfig{Store: fileStore})
	w := groupcommit.New(groupcommit.Config{Store: l.Store, Open: open})
	ctx := context.Background()
	for _, r := range reqs {
		blocks := splitRequest(t, r)
		record := func(i int) ([]byte, error) {
			return json.Marshal(layout.ProcessRecord{ProcessID: blocks[i].Meta.ProcessID.String()})
		}
		if _, err := w.Write(ctx, blocks, record); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(l.keys(t, layout.OpenSegmentListPrefix())); n != 1 {
		t.Fatalf("%d open segments, want 1", n)
	}
	sameRows(t, "from the open segment", l.everyRow(t, window), want)

	// Another pod wrote half the requests as sealed segments.
	writeSegments(t, l.Store, reqs[:len(reqs)/2]...)
	sameRows(t, "open and sealed", l.everyRow(t, window), want)
	if r := l.materialize(t, window); !strings.Contains(r.stdout, "skipped    0 blocks") {
		t.Errorf("materialize skipped blocks:\n%s", r.stdout)
	}
	sameRows(t, "materialized from open and sealed", l.everyRow(t, window), want)

	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := open.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(l.keys(t, layout.OpenSegmentListPrefix())); n != 0 {
		t.Fatalf("%d open segments after the seal, want 0", n)
	}
	sameRows(t, "sealed", l.everyRow(t, window), want)
	if r := l.lakehouse(t, append([]string{"compact"}, window...)...); r.code != 0 {
		t.Fatalf("compact exited %d: %s", r.code, r.stderr)
	}
	sameRows(t, "compacted", l.everyRow(t, window), want)
	// Compaction left one copy of every dated block (undated segments are never compacted).
	copies := harness.BlockCopies(t, l.Store)
	found, _, err := lakeblocks.List(ctx, l.Store, lakeblocks.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		if f.Ref.Partition != layout.Undated && copies[f.Ref.ID] != 1 {
			t.Errorf("block %s of %s: %d copies after compaction, want 1", f.Ref.ID, f.Ref.Partition, copies[f.Ref.ID])
		}
	}
	// Fresh readers, no parts: the blocks straight from the compacted segments.
	fresh := readerOf(t, l.Storage)
	for _, k := range l.keys(t, layout.TablesPrefix+"/") {
		l.Store.Delete(ctx, k)
	}
	sameRows(t, "compacted, read afresh", fresh.everyRow(t, window), want)
}
