// Command democlient sends a few logs, spans and metrics with the OpenTelemetry Go SDK's own
// OTLP/HTTP exporters, configured only by the standard OTEL_EXPORTER_OTLP_* environment variables:
// what a workload gets from `envFrom` of a TelemetryLake's token Secret. `make demo` and the
// end-to-end test (test/e2e) run it.
//
//	OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318/ingestion/otlp \
//	OTEL_EXPORTER_OTLP_HEADERS='Authorization=Bearer tlk_…' go run ./cmd/democlient
//
// It must never read a flag or a file for where to send or how to authenticate: the point is to
// show that the token Secret alone is enough. The standard OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES are honoured, as by any SDK.
//
// What it sends is fixed, so that a test can look for it in the lake: Records log records with the
// bodies "democlient log <i> of <Records>", one trace of a span "democlient/run" with Records
// children named "democlient/work-<i>", and two
// metrics, the counter democlient.items (summing to Records) and the histogram
// democlient.duration (Records points). It exits non-zero if any export fails, for example with a
// 401 from an ingester that does not know the token.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Records is how many log records, spans and counter increments one run sends.
const Records = 20

// ServiceName is the default service.name; OTEL_SERVICE_NAME overrides it.
const ServiceName = "democlient"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "democlient:", err)
		os.Exit(1)
	}
}

func run() error {
	endpoint := os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	if endpoint == "" {
		return errors.New("OTEL_EXPORTER_OTLP_ENDPOINT is not set: take the environment from a token Secret (envFrom)")
	}
	// The SDK's batching processors report export failures to the global error handler rather than
	// returning them, so collect them there too.
	var failures exportErrors
	otel.SetErrorHandler(&failures)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", ServiceName)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithProcessExecutableName(),
	)
	if err != nil {
		return fmt.Errorf("resource: %w", err)
	}

	for _, send := range []struct {
		signal string
		fn     func(context.Context, *resource.Resource) error
	}{{"logs", sendLogs}, {"traces", sendSpans}, {"metrics", sendMetrics}} {
		if err := send.fn(ctx, res); err != nil {
			failures.add(fmt.Errorf("%s: %w", send.signal, err))
		}
	}
	if err := failures.err(); err != nil {
		return err
	}
	fmt.Printf("democlient: sent %d log records, %d spans and 2 metrics (%d counter increments, %d histogram points) to %s\n",
		Records, Records+1, Records, Records, endpoint)
	return nil
}

func sendLogs(ctx context.Context, res *resource.Resource) error {
	exp, err := otlploghttp.New(ctx)
	if err != nil {
		return err
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)))
	logger := lp.Logger(ServiceName)
	for i := 1; i <= Records; i++ {
		var rec otellog.Record
		rec.SetTimestamp(time.Now())
		rec.SetSeverity(otellog.SeverityInfo)
		rec.SetSeverityText("INFO")
		rec.SetBody(attribute.StringValue(fmt.Sprintf("democlient log %d of %d", i, Records)))
		rec.AddAttributes(attribute.Int("i", i))
		logger.Emit(ctx, rec)
	}
	return errors.Join(lp.ForceFlush(ctx), lp.Shutdown(ctx))
}

func sendSpans(ctx context.Context, res *resource.Resource) error {
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(exp))
	tracer := tp.Tracer(ServiceName)
	rootCtx, root := tracer.Start(ctx, "democlient/run")
	for i := 1; i <= Records; i++ {
		_, span := tracer.Start(rootCtx, fmt.Sprintf("democlient/work-%d", i))
		span.SetAttributes(attribute.Int("i", i))
		span.End()
	}
	root.End()
	return errors.Join(tp.ForceFlush(ctx), tp.Shutdown(ctx))
}

func sendMetrics(ctx context.Context, res *resource.Resource) error {
	exp, err := otlpmetrichttp.New(ctx)
	if err != nil {
		return err
	}
	// No periodic exports during the run: Shutdown collects and exports once.
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))))
	meter := mp.Meter(ServiceName)
	items, err := meter.Int64Counter("democlient.items")
	if err != nil {
		return err
	}
	duration, err := meter.Float64Histogram("democlient.duration", metric.WithUnit("ms"))
	if err != nil {
		return err
	}
	for i := 1; i <= Records; i++ {
		items.Add(ctx, 1)
		duration.Record(ctx, float64(i))
	}
	return mp.Shutdown(ctx)
}

// exportErrors is an otel.ErrorHandler that keeps what it is given.
type exportErrors struct {
	mu   sync.Mutex
	errs []error
}

func (e *exportErrors) Handle(err error) { e.add(err) }

func (e *exportErrors) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, err)
}

func (e *exportErrors) err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return errors.Join(e.errs...)
}
