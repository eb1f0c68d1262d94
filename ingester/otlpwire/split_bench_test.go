package otlpwire

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// BenchmarkSplit validates and cuts a ~5 KiB log export shaped like an SDK's batch: one resource
// with a dozen attributes, ten records with a body, a trace context and eight attributes each.
func BenchmarkSplit(b *testing.B) {
	str := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	var res []*commonpb.KeyValue
	for i := range 12 {
		res = append(res, str(fmt.Sprintf("resource.attribute.%d", i), fmt.Sprintf("value-%d-of-the-resource", i)))
	}
	sl := &logspb.ScopeLogs{Scope: &commonpb.InstrumentationScope{Name: "github.com/shop/checkout/internal/logging", Version: "1.3.0"}}
	for i := range 10 {
		rec := &logspb.LogRecord{
			TimeUnixNano: 1_795_000_000_000_000_000 + uint64(i), ObservedTimeUnixNano: 1_795_000_000_000_000_100,
			SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_INFO, SeverityText: "INFO",
			Body:    &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: fmt.Sprintf("request %d served: GET /api/v1/cart/items 200 in 12ms for user u-1842 via payments.shop-prod.svc:8443", i)}},
			TraceId: make([]byte, 16), SpanId: make([]byte, 8),
		}
		for j := range 8 {
			rec.Attributes = append(rec.Attributes, str(fmt.Sprintf("http.attribute.%d", j), fmt.Sprintf("some value %d", j)))
		}
		rec.Attributes = append(rec.Attributes, &commonpb.KeyValue{Key: "http.status_code", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 200}}})
		sl.LogRecords = append(sl.LogRecords, rec)
	}
	body, err := proto.Marshal(&collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: &resourcepb.Resource{Attributes: res}, ScopeLogs: []*logspb.ScopeLogs{sl},
	}}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Split(layout.Logs, body); err != nil {
			b.Fatal(err)
		}
	}
}
