package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// payload is a marshalled ExportLogsServiceRequest plus the position of a
// fixed-width field that can be rewritten in place. Rewriting 8 bytes is what
// lets every request be unique (the ingester deduplicates identical bodies)
// without paying for a fresh marshal or allocation per request, which would
// otherwise load the client side of the benchmark far more than the servers.
type payload struct {
	name    string
	body    []byte
	records int
	// stampOffset is where the first log record's time_unix_nano (fixed64,
	// little endian) starts inside body.
	stampOffset int
	// baseTime is the template's first timestamp; stamps are derived from it
	// so that they stay close to "now".
	baseTime uint64
}

// sizeSpec names one of the request sizes the benchmark knows about.
type sizeSpec struct {
	name   string
	target int
}

var knownSizes = []sizeSpec{
	{name: "5KiB", target: 5 << 10},
	{name: "1MiB", target: 1 << 20},
}

func parseSize(s string) (sizeSpec, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "5kib", "5k", "small":
		return knownSizes[0], nil
	case "1mib", "1m", "large":
		return knownSizes[1], nil
	}
	return sizeSpec{}, fmt.Errorf("unknown size %q (want 5KiB or 1MiB)", s)
}

// buildPayload produces a realistic log export of roughly target bytes. The
// random source is seeded with a constant so every subject receives the very
// same content, only the timestamps differ between runs.
func buildPayload(spec sizeSpec, now time.Time) (*payload, error) {
	rng := rand.New(rand.NewPCG(0x7e1e, uint64(spec.target)))
	// Start a few minutes in the past: the per-request stamps added later move
	// forward by at most a few minutes, so everything stays within the hour.
	base := uint64(now.Add(-5 * time.Minute).UnixNano())

	req := &collogspb.ExportLogsServiceRequest{
		ResourceLogs: []*logspb.ResourceLogs{{
			Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
				strAttr("service.name", "checkout"),
				strAttr("service.namespace", "shop"),
				strAttr("service.version", "2.14.3"),
				strAttr("service.instance.id", "checkout-7d9f8b6c5-x2k4q"),
				strAttr("host.name", "ip-10-0-12-34.eu-west-1.compute.internal"),
				strAttr("host.arch", "amd64"),
				strAttr("os.type", "linux"),
				intAttr("process.pid", 4242),
				strAttr("process.runtime.name", "go"),
				strAttr("k8s.namespace.name", "shop-prod"),
				strAttr("k8s.pod.name", "checkout-7d9f8b6c5-x2k4q"),
				strAttr("deployment.environment.name", "production"),
			}},
			ScopeLogs: []*logspb.ScopeLogs{{
				Scope: &commonpb.InstrumentationScope{
					Name:    "github.com/shop/checkout/internal/logging",
					Version: "1.3.0",
				},
			}},
			SchemaUrl: "https://opentelemetry.io/schemas/1.26.0",
		}},
	}
	scope := req.ResourceLogs[0].ScopeLogs[0]

	// Growing the message and calling proto.Size after every record would be
	// quadratic for the 1 MiB body; summing each record's framed size is exact
	// because records are independent length-delimited fields.
	size := proto.Size(req)
	for i := 0; size < spec.target; i++ {
		rec := makeRecord(rng, base+uint64(i)*uint64(time.Millisecond))
		n := proto.Size(rec)
		scope.LogRecords = append(scope.LogRecords, rec)
		framed := protowire.SizeTag(2) + protowire.SizeBytes(n)
		size += framed
		// The enclosing ScopeLogs and ResourceLogs length prefixes grow too;
		// resyncing now and then absorbs that without going quadratic.
		if i%64 == 63 {
			size = proto.Size(req)
		}
	}

	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		return nil, err
	}
	off, err := findFirstRecordTime(body)
	if err != nil {
		return nil, err
	}
	if got := binary.LittleEndian.Uint64(body[off:]); got != base {
		return nil, fmt.Errorf("stamp offset %d holds %d, want %d", off, got, base)
	}
	return &payload{
		name:        spec.name,
		body:        body,
		records:     len(scope.LogRecords),
		stampOffset: off,
		baseTime:    base,
	}, nil
}

// stamp makes buf (a private copy of p.body) unique for (worker, seq). Each
// worker owns a 2^32 ns (~4.3 s) slice of time so the values never collide,
// and with a few dozen workers the stamps stay within minutes of baseTime.
func (p *payload) stamp(buf []byte, worker int, seq uint64) {
	v := p.baseTime + uint64(worker)<<32 + seq&(1<<32-1)
	binary.LittleEndian.PutUint64(buf[p.stampOffset:], v)
}

// findFirstRecordTime walks the wire format along
// ExportLogsServiceRequest.resource_logs(1) → ResourceLogs.scope_logs(2) →
// ScopeLogs.log_records(2) → LogRecord.time_unix_nano(1) and returns the
// offset of the fixed64 value.
func findFirstRecordTime(b []byte) (int, error) {
	path := []protowire.Number{1, 2, 2}
	start, end := 0, len(b)
	for _, want := range path {
		s, e, err := findBytesField(b, start, end, want)
		if err != nil {
			return 0, err
		}
		start, end = s, e
	}
	for pos := start; pos < end; {
		num, typ, n := protowire.ConsumeTag(b[pos:end])
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		pos += n
		if num == 1 && typ == protowire.Fixed64Type {
			return pos, nil
		}
		m := protowire.ConsumeFieldValue(num, typ, b[pos:end])
		if m < 0 {
			return 0, protowire.ParseError(m)
		}
		pos += m
	}
	return 0, errors.New("first log record has no time_unix_nano")
}

// findBytesField returns the bounds of the first length-delimited field
// number want within b[start:end].
func findBytesField(b []byte, start, end int, want protowire.Number) (int, int, error) {
	for pos := start; pos < end; {
		num, typ, n := protowire.ConsumeTag(b[pos:end])
		if n < 0 {
			return 0, 0, protowire.ParseError(n)
		}
		pos += n
		if num == want && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b[pos:end])
			if m < 0 {
				return 0, 0, protowire.ParseError(m)
			}
			valStart := pos + m - len(v)
			return valStart, valStart + len(v), nil
		}
		m := protowire.ConsumeFieldValue(num, typ, b[pos:end])
		if m < 0 {
			return 0, 0, protowire.ParseError(m)
		}
		pos += m
	}
	return 0, 0, fmt.Errorf("field %d not found", want)
}

var (
	httpMethods = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	routes      = []string{"/api/v1/cart", "/api/v1/cart/items", "/api/v1/orders", "/api/v1/payments/authorize", "/api/v1/shipping/quote", "/healthz"}
	users       = []string{"u-1842", "u-99312", "u-5521", "u-70001", "u-318", "anonymous"}
	upstreams   = []string{"payments.shop-prod.svc:8443", "inventory.shop-prod.svc:9090", "redis-cart-0.redis:6379", "postgres-orders.db:5432"}
	words       = strings.Fields("cache miss rebalancing partition consumer lag exceeded threshold retrying request after backoff connection pool exhausted waiting for idle connection deadline context canceled while reading response header slow query detected on table orders index scan rows examined")
)

// makeRecord writes one log record whose body and attributes vary the way
// real application logs do: mostly access logs, some warnings and errors,
// the occasional multi-line stack trace.
func makeRecord(rng *rand.Rand, ts uint64) *logspb.LogRecord {
	rec := &logspb.LogRecord{
		TimeUnixNano:         ts,
		ObservedTimeUnixNano: ts + uint64(rng.IntN(5_000_000)),
		TraceId:              randBytes(rng, 16),
		SpanId:               randBytes(rng, 8),
		Flags:                1,
	}
	method := httpMethods[rng.IntN(len(httpMethods))]
	route := routes[rng.IntN(len(routes))]
	user := users[rng.IntN(len(users))]
	dur := rng.IntN(900) + 1
	var text string
	switch r := rng.IntN(100); {
	case r < 70:
		status := []int{200, 200, 200, 201, 204, 304, 404}[rng.IntN(7)]
		rec.SeverityNumber, rec.SeverityText = logspb.SeverityNumber_SEVERITY_NUMBER_INFO, "INFO"
		text = fmt.Sprintf("%s %s?page=%d&limit=%d HTTP/1.1 %d %dms bytes=%d user=%s ua=%q",
			method, route, rng.IntN(40), 10*(1+rng.IntN(10)), status, dur, rng.IntN(200_000), user,
			"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0 Safari/537.36")
		rec.Attributes = append(rec.Attributes, intAttr("http.response.status_code", int64(status)))
	case r < 92:
		rec.SeverityNumber, rec.SeverityText = logspb.SeverityNumber_SEVERITY_NUMBER_WARN, "WARN"
		n := 6 + rng.IntN(14)
		ws := make([]string, n)
		for i := range ws {
			ws[i] = words[rng.IntN(len(words))]
		}
		text = fmt.Sprintf("%s (upstream=%s attempt=%d elapsed=%dms)",
			strings.Join(ws, " "), upstreams[rng.IntN(len(upstreams))], 1+rng.IntN(4), dur)
	default:
		rec.SeverityNumber, rec.SeverityText = logspb.SeverityNumber_SEVERITY_NUMBER_ERROR, "ERROR"
		text = fmt.Sprintf("payment authorization failed for order %d: rpc error: code = Unavailable desc = upstream %s reset connection\n"+
			"goroutine %d [running]:\ngithub.com/shop/checkout/internal/payments.(*Client).Authorize(0xc000%06x, {0x1a2b3c, 0xc0001%05x})\n"+
			"\t/src/internal/payments/client.go:%d +0x1f4\ngithub.com/shop/checkout/internal/api.(*Handler).Checkout(0xc0002%05x)\n\t/src/internal/api/checkout.go:%d +0x8c",
			rng.IntN(10_000_000), upstreams[rng.IntN(len(upstreams))], rng.IntN(5000),
			rng.IntN(1<<24), rng.IntN(1<<20), 100+rng.IntN(300), rng.IntN(1<<20), 50+rng.IntN(200))
		rec.Attributes = append(rec.Attributes, strAttr("exception.type", "*status.Error"))
	}
	rec.Body = &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: text}}
	rec.Attributes = append(rec.Attributes,
		strAttr("http.request.method", method),
		strAttr("http.route", route),
		strAttr("user.id", user),
		intAttr("duration_ms", int64(dur)),
		strAttr("thread.name", fmt.Sprintf("worker-%d", rng.IntN(16))),
	)
	return rec
}

func strAttr(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func intAttr(k string, v int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}
