//go:build cgo

package lakehouse

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"github.com/telemetrylake/telemetrylake/ingester/lakehouse/parts"
	"github.com/telemetrylake/telemetrylake/ingester/layout"
	"github.com/telemetrylake/telemetrylake/ingester/otlpwire"
	"github.com/telemetrylake/telemetrylake/ingester/store"
)

// benchBlocks are blocks of log records shaped like an SDK's batches: a few attributes each,
// a trace context, one service. They are stored straight into the store, as the ingester would.
func benchBlocks(b testing.TB, st store.Store, hour time.Time, blocks, perBlock int) (bytes int64) {
	str := func(s string) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
	}
	for i := range blocks {
		rl := &logspb.ResourceLogs{
			Resource:  &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{Key: "service.name", Value: str("bench")}}},
			ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{Name: "bench"}}},
		}
		for j := range perBlock {
			rl.ScopeLogs[0].LogRecords = append(rl.ScopeLogs[0].LogRecords, &logspb.LogRecord{
				TimeUnixNano:   uint64(hour.Add(time.Duration(i*perBlock+j) * time.Millisecond).UnixNano()),
				SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_INFO,
				Body:           str(fmt.Sprintf("request %d of block %d served in %d ms", j, i, j%250)),
				Attributes: []*commonpb.KeyValue{
					{Key: "http.route", Value: str("/api/orders")},
					{Key: "http.status_code", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 200}}},
					{Key: "user.id", Value: str(fmt.Sprintf("u-%d", j%100))},
				},
				TraceId: []byte("0123456789abcdef"), SpanId: []byte("01234567"),
			})
		}
		data, err := proto.Marshal(&collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{rl}})
		if err != nil {
			b.Fatal(err)
		}
		split, err := otlpwire.Split(layout.Logs, data)
		if err != nil || len(split) != 1 {
			b.Fatal(err)
		}
		if _, err := st.Create(context.Background(), split[0].Key(), split[0].Bytes, split[0].Meta.Map()); err != nil {
			b.Fatal(err)
		}
		bytes += int64(len(data))
	}
	return bytes
}

// BenchmarkMaterializeLogs measures a materialization of one hour of logs, beside the decode
// floor (a bare protobuf unmarshal of the same blocks), and a first query over the same hour never
// materialized. Run: CGO_ENABLED=1 go test -run '^$' -bench Materialize -benchtime 1x ./ingester/lakehouse
func BenchmarkMaterializeLogs(b *testing.B) {
	const blocks, perBlock = 200, 5000
	hour := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour)
	w := parts.Window{Since: hour, Until: hour.Add(time.Hour)}
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		st, err := store.Open(ctx, "file://"+b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		size := benchBlocks(b, st, hour, blocks, perBlock)
		var keys []string
		st.List(ctx, "blocks/", func(k string) error { keys = append(keys, k); return nil })
		b.StartTimer()

		start := time.Now()
		for _, k := range keys {
			data, _, err := st.Get(ctx, k)
			if err != nil {
				b.Fatal(err)
			}
			var req collogspb.ExportLogsServiceRequest
			if err := proto.Unmarshal(data, &req); err != nil {
				b.Fatal(err)
			}
		}
		floor := time.Since(start)

		start = time.Now()
		s, err := Open(ctx, QueryOptions{Store: st, Window: w, CacheDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		rs, err := s.Query(ctx, `SELECT attributes['user.id'], count(*) FROM log_entries GROUP BY 1`)
		if err != nil {
			b.Fatal(err)
		}
		for rs.Next() {
		}
		rs.Close()
		s.Close()
		firstQuery := time.Since(start)

		sum, err := Materialize(ctx, MaterializeOptions{Store: st, Window: w, CacheDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		rowCount := float64(blocks * perBlock)
		b.ReportMetric(float64(size)/1e6/sum.Elapsed.Seconds(), "MB/s-in")
		b.ReportMetric(rowCount/sum.Elapsed.Seconds(), "rows/s")
		b.ReportMetric(floor.Seconds()/sum.Elapsed.Seconds(), "ratio-to-unmarshal")
		b.ReportMetric(firstQuery.Seconds(), "s-first-query-unmaterialized")
		b.ReportMetric(float64(sum.BytesOut)/float64(size), "parquet/otlp-bytes")
		st.Close()
	}
}
