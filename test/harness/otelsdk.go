package harness

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// UnsetOTelEnv removes every OTEL_* variable from the environment of the test process. Call it
// from TestMain: the SDK's exporters read them, and a developer's own settings must not leak into
// the tests.
func UnsetOTelEnv() {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OTEL_") {
			os.Unsetenv(k)
		}
	}
}

// SDKConfig says where and how the OpenTelemetry Go SDK's own OTLP/HTTP exporters send.
type SDKConfig struct {
	// Endpoint is an OTLP base URL, what OTEL_EXPORTER_OTLP_ENDPOINT holds: each exporter appends
	// /v1/<signal>. Empty, the exporters take everything from the standard OTEL_EXPORTER_OTLP_*
	// environment variables, as an application configured by a token Secret does.
	Endpoint string
	// Token, if not empty, is sent as "Authorization: Bearer <token>".
	Token string
	// Resource describes the process that sends; nil is the SDK's default.
	Resource *resource.Resource
	// DeltaTemporality exports every metric instrument as deltas, as Claude Code does; the
	// default is cumulative.
	DeltaTemporality bool
	// MetricViews change how instruments aggregate, e.g. into exponential histograms.
	MetricViews []sdkmetric.View
}

func (c SDKConfig) headers() map[string]string {
	if c.Token == "" {
		return nil
	}
	return map[string]string{"Authorization": "Bearer " + c.Token}
}

// LogExporter is the SDK's OTLP/HTTP log exporter, as cfg says.
func LogExporter(t testing.TB, cfg SDKConfig) *otlploghttp.Exporter {
	t.Helper()
	var opts []otlploghttp.Option
	if cfg.Endpoint != "" {
		opts = append(opts, otlploghttp.WithEndpointURL(cfg.Endpoint+"/v1/logs"))
	}
	if h := cfg.headers(); h != nil {
		opts = append(opts, otlploghttp.WithHeaders(h))
	}
	exp, err := otlploghttp.New(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

// TraceExporter is the SDK's OTLP/HTTP span exporter, as cfg says. Its ExportSpans returns what
// a tracer provider would only hand to the global error handler.
func TraceExporter(t testing.TB, cfg SDKConfig) *otlptrace.Exporter {
	t.Helper()
	var opts []otlptracehttp.Option
	if cfg.Endpoint != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(cfg.Endpoint+"/v1/traces"))
	}
	if h := cfg.headers(); h != nil {
		opts = append(opts, otlptracehttp.WithHeaders(h))
	}
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

// MetricExporter is the SDK's OTLP/HTTP metric exporter, as cfg says.
func MetricExporter(t testing.TB, cfg SDKConfig) *otlpmetrichttp.Exporter {
	t.Helper()
	var opts []otlpmetrichttp.Option
	if cfg.Endpoint != "" {
		opts = append(opts, otlpmetrichttp.WithEndpointURL(cfg.Endpoint+"/v1/metrics"))
	}
	if h := cfg.headers(); h != nil {
		opts = append(opts, otlpmetrichttp.WithHeaders(h))
	}
	if cfg.DeltaTemporality {
		opts = append(opts, otlpmetrichttp.WithTemporalitySelector(func(sdkmetric.InstrumentKind) metricdata.Temporality {
			return metricdata.DeltaTemporality
		}))
	}
	exp, err := otlpmetrichttp.New(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

// SDK is the OpenTelemetry Go SDK's three providers, each with its batching OTLP/HTTP exporter:
// what an instrumented application runs.
type SDK struct {
	Logs    *sdklog.LoggerProvider
	Traces  *sdktrace.TracerProvider
	Metrics *sdkmetric.MeterProvider
}

// StartSDK starts the three providers, exporting as cfg says. Metrics are exported only by
// Metrics.ForceFlush and by Shutdown, so that each export is one the test asked for.
func StartSDK(t testing.TB, cfg SDKConfig) *SDK {
	t.Helper()
	res := cfg.Resource
	if res == nil {
		res = resource.Default()
	}
	reader := sdkmetric.NewPeriodicReader(MetricExporter(t, cfg), sdkmetric.WithInterval(time.Hour))
	sdk := &SDK{
		Logs: sdklog.NewLoggerProvider(sdklog.WithResource(res),
			sdklog.WithProcessor(sdklog.NewBatchProcessor(LogExporter(t, cfg)))),
		Traces: sdktrace.NewTracerProvider(sdktrace.WithResource(res),
			sdktrace.WithBatcher(TraceExporter(t, cfg))),
		Metrics: sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
			sdkmetric.WithReader(reader), sdkmetric.WithView(cfg.MetricViews...)),
	}
	return sdk
}

// Shutdown exports what the providers still hold and stops them, failing the test if an export
// fails.
func (s *SDK) Shutdown(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	if err := s.Logs.Shutdown(ctx); err != nil {
		t.Fatalf("log export: %v", err)
	}
	if err := s.Traces.Shutdown(ctx); err != nil {
		t.Fatalf("trace export: %v", err)
	}
	// Shutdown collects and exports one last time.
	if err := s.Metrics.Shutdown(ctx); err != nil {
		t.Fatalf("metric export: %v", err)
	}
}
