// Package server is the ingester's HTTP side: the OTLP/HTTP routes and the admin listener.
//
// A request goes down one straight line of small steps, each a function whose failure maps to
// exactly one HTTP answer in answers.go:
//
//	route → authenticate → content type and encoding → read, limit and decompress → decode and
//	split into blocks (ingester/otlpwire) → compute each block's id and key (lake/layout) →
//	create-only store → answer
//
// The Content-Type is parsed once, before anything else: every answer, a refusal included, is in
// the request's encoding. The store step returns one storeResult, which the metrics and the
// store's health both read. Nothing is read or decompressed for a request that would be refused on
// its headers, and a 200 is only sent once every block of the request is durable.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/ingester/groupcommit"
	"github.com/telemetrylake/telemetrylake/ingester/otlpwire"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
)

// Options configure a Server. Zero durations and limits take the defaults of api/ingesterconfig,
// the same ones the ingester's config file documents.
type Options struct {
	Store  store.Store
	Auth   Authenticator
	Limits Limits
	// Tenant labels metrics, so that one Prometheus can tell many ingesters apart.
	Tenant string
	// StoreTimeout bounds the store writes of one request; past it the answer is 503.
	StoreTimeout time.Duration
	// HealthInterval is how often the store is pinged for /readyz.
	HealthInterval time.Duration
	// CORSAllowedOrigins lists the browser origins allowed to send; empty disables CORS.
	CORSAllowedOrigins []string
	// Profiling serves net/http/pprof on the admin listener.
	Profiling bool
	// Layout is how blocks are written; "" is ingesterconfig.DefaultLayout, segments.
	Layout ingesterconfig.Layout
	// Segments tunes the segment writer when Layout is segments.
	Segments SegmentOptions
	Logger   *slog.Logger
	Registry *prometheus.Registry
}

// The server's own defaults; those a config file can override are in api/ingesterconfig.
const (
	defaultHealthInterval = 2 * time.Second
	processCacheSize      = 100_000
)

func (o *Options) setDefaults() {
	setDefault(&o.Limits.MaxBodyBytes, ingesterconfig.DefaultMaxBodyBytes)
	setDefault(&o.Limits.MaxDecompressedBytes, ingesterconfig.DefaultMaxDecompressedBytes)
	setDefault(&o.Limits.MaxDecompressionRatio, ingesterconfig.DefaultMaxDecompressionRatio)
	setDefault(&o.Limits.MaxInflightBytes, ingesterconfig.DefaultMaxInflightBytes)
	setDefault(&o.StoreTimeout, ingesterconfig.DefaultStoreTimeout)
	setDefault(&o.HealthInterval, defaultHealthInterval)
	setDefault(&o.Layout, ingesterconfig.DefaultLayout)
	o.Segments.setDefaults(o.Store)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Server serves OTLP/HTTP into a store.
type Server struct {
	opts     Options
	log      *slog.Logger
	bodies   *bodyReader
	writer   *blockWriter
	segments *groupcommit.Writer // nil: one object per block
	// openSegments are what the segment writer appends to on a file store; nil otherwise.
	openSegments *groupcommit.OpenSegments
	health       *storeHealth
	metrics      *metrics
	draining     atomic.Bool
}

func New(opts Options) *Server {
	opts.setDefaults()
	s := &Server{opts: opts, log: opts.Logger, bodies: newBodyReader(opts.Limits)}
	s.metrics = newMetrics(opts.Registry, s.bodies.inflight)
	s.health = newStoreHealth(opts.Store, opts.HealthInterval, opts.StoreTimeout, s.metrics.storeUp, opts.Logger)
	s.writer = newBlockWriter(opts.Store)
	if opts.Layout == ingesterconfig.LayoutSegments {
		s.segments, s.openSegments = newSegmentWriter(opts, opts.Registry, opts.Logger)
	}
	return s
}

// routes maps each OTLP path to its signal: wellknown.OTLPBasePath, which the operator hands SDKs
// as their endpoint, and the bare /v1 paths for SDKs pointed at the host root.
var routes = map[string]layout.Signal{
	wellknown.OTLPBasePath + "/v1/logs":    layout.Logs,
	wellknown.OTLPBasePath + "/v1/metrics": layout.Metrics,
	wellknown.OTLPBasePath + "/v1/traces":  layout.Traces,
	"/v1/logs":                             layout.Logs,
	"/v1/metrics":                          layout.Metrics,
	"/v1/traces":                           layout.Traces,
}

// exportResult is what a request did, for its log line and metrics.
type exportResult struct {
	principal   Principal
	compression compression
	wireBytes   int64
	bodyBytes   int
	blocks      int
	records     int
	stored      storeResult
}

// unrouted is the signal label of a request to a path that is no OTLP route.
const unrouted = "unknown"

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// The Content-Type is read here, once: its encoding is the answer's whether the request is
	// refused or not (protobuf, the spec's default, when it is missing or not one we take), and
	// its own failure waits until the caller is authenticated.
	enc, badType := payloadEncoding(r.Header)
	signal, routed := routes[r.URL.Path]
	var res exportResult
	var f *failure
	switch {
	case !routed:
		f = fail(notFound, "no OTLP route at %s: use %s/v1/{logs,metrics,traces}", r.URL.Path, wellknown.OTLPBasePath)
	case s.corsPreflight(w, r):
		return
	case r.Method != http.MethodPost:
		f = fail(methodNotAllowed, "method %s is not allowed on %s: use POST", r.Method, r.URL.Path)
	default:
		s.allowOrigin(w, r)
		res, f = s.export(r, signal, enc, badType)
	}
	status := http.StatusOK
	if f != nil {
		status = writeFailure(w, enc, f)
	} else {
		writeSuccess(w, enc)
	}
	label := unrouted
	if routed {
		label = string(signal)
	}
	s.observe(r, label, status, enc, res, f, time.Since(start))
}

// export is the request's whole story.
func (s *Server) export(r *http.Request, signal layout.Signal, payload encoding, badType *failure) (res exportResult, f *failure) {
	if res.principal, f = s.authenticate(r, signal); f != nil {
		return res, f
	}
	if badType != nil {
		return res, badType
	}
	if res.compression, f = contentCompression(r.Header); f != nil {
		return res, f
	}
	body, held, f := s.bodies.read(r, res.compression)
	defer held.release()
	res.wireBytes, res.bodyBytes = held.wireBytes, len(body)
	if f != nil {
		return res, f
	}
	blocks, f := decodeBlocks(signal, payload, body)
	if f != nil {
		return res, f
	}
	res.blocks = len(blocks)
	for i := range blocks {
		res.records += blocks[i].Meta.Records
	}
	res.stored = s.store(r.Context(), signal, addressBlocks(blocks))
	return res, res.stored.failure()
}

func (s *Server) authenticate(r *http.Request, signal layout.Signal) (Principal, *failure) {
	p, err := s.opts.Auth.Authenticate(r, signal)
	if err == nil {
		return p, nil
	}
	var ae *AuthError
	if errors.As(err, &ae) && ae.Forbidden {
		return p, fail(forbidden, "%s", ae.Message)
	}
	if ae != nil {
		return p, fail(unauthenticated, "%s", ae.Message)
	}
	return p, failWith(internalFault, err, "authentication failed")
}

func decodeBlocks(signal layout.Signal, payload encoding, body []byte) ([]otlpwire.Block, *failure) {
	if len(body) == 0 {
		return nil, nil // an empty request: nothing to store, and a 200
	}
	if payload == encodingJSON {
		canonical, err := otlpwire.JSONToProto(signal, body)
		if err != nil {
			return nil, &failure{kind: badRequest, message: err.Error()}
		}
		body = canonical
	}
	blocks, err := otlpwire.Split(signal, body)
	if err != nil {
		return nil, &failure{kind: badRequest, message: err.Error()}
	}
	return blocks, nil
}

// addressedBlock is a block with its content address: the id lake/layout derives from its signal
// and bytes.
type addressedBlock struct {
	otlpwire.Block
	id layout.UUID
}

// addressBlocks computes each block's id. It is what makes a retried request land on what its
// first attempt wrote, so that it never counts twice. Where the block is stored is the store
// step's business: a key for one object per block, a place in a segment for storage v2.
func addressBlocks(blocks []otlpwire.Block) []addressedBlock {
	out := make([]addressedBlock, len(blocks))
	for i, b := range blocks {
		out[i] = addressedBlock{Block: b, id: layout.BlockID(b.Meta.Signal, b.Bytes)}
	}
	return out
}

// store writes the blocks. It outlives a client that hangs up: a write in progress finishes, so
// that a retry finds it done rather than racing it. Its result is the one account of what the
// store did: the store's health and the metrics both read it.
func (s *Server) store(ctx context.Context, signal layout.Signal, blocks []addressedBlock) storeResult {
	if len(blocks) == 0 {
		return storeResult{}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.StoreTimeout)
	defer cancel()
	var res storeResult
	if s.segments != nil {
		res = s.writeSegments(ctx, blocks)
	} else {
		res = s.writer.write(ctx, blocks)
	}
	s.health.observe(res)
	s.metrics.observeStore(signal, res)
	return res
}

func (s *Server) observe(r *http.Request, signal string, status int, enc encoding, res exportResult, f *failure, took time.Duration) {
	s.metrics.observeRequest(signal, status, enc, s.opts.Tenant, res, f == nil, took)
	level := slog.LevelDebug
	switch {
	case status >= 500:
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelInfo
	}
	if !s.log.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("route", signal), slog.String("method", r.Method), slog.Int("status", status),
		slog.String("principal", res.principal.Name), slog.String("encoding", enc.String()),
		slog.String("compression", string(res.compression)), slog.Int64("wire_bytes", res.wireBytes),
		slog.Int("body_bytes", res.bodyBytes), slog.Int("blocks", res.blocks), slog.Int("records", res.records),
		slog.Float64("duration_ms", float64(took.Microseconds())/1000), slog.String("remote", r.RemoteAddr),
	}
	if f != nil {
		attrs = append(attrs, slog.String("error", f.Error()))
	}
	s.log.LogAttrs(r.Context(), level, "otlp request", attrs...)
}

func (s *Server) corsPreflight(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodOptions || !s.originAllowed(r) {
		return false
	}
	s.allowOrigin(w, r)
	w.Header().Set("Access-Control-Allow-Methods", http.MethodPost)
	w.Header().Set("Access-Control-Allow-Headers", "Content-Type, Content-Encoding, Authorization")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// allowOrigin echoes an allowed origin, never "*": browsers send credentials on these requests.
func (s *Server) allowOrigin(w http.ResponseWriter, r *http.Request) {
	if s.originAllowed(r) {
		w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
		w.Header().Add("Vary", "Origin")
	}
}

func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	return origin != "" && slices.Contains(s.opts.CORSAllowedOrigins, origin)
}

// AdminHandler serves /metrics, /healthz (the process is alive) and /readyz (it can take traffic:
// the store answers and it is not shutting down).
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	s.opts.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.opts.Registry, promhttp.HandlerOpts{}))
	if s.opts.Profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		if up, why := s.health.state(); !up {
			msg := "store unreachable"
			if why != nil {
				msg += ": " + why.Error()
			}
			http.Error(w, msg, http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	return mux
}

// Run serves until ctx ends, then drains: /readyz fails at once, new connections are refused and
// requests in flight get up to grace to finish (zero: ingesterconfig.DefaultShutdownGracePeriod).
func (s *Server) Run(ctx context.Context, otlp, admin net.Listener, grace time.Duration) error {
	setDefault(&grace, ingesterconfig.DefaultShutdownGracePeriod)
	healthCtx, stopHealth := context.WithCancel(context.Background())
	defer stopHealth()
	go s.health.run(healthCtx)

	otlpSrv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	silent := newSilentConns()
	otlpSrv.ConnState = silent.track
	adminSrv := &http.Server{Handler: s.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
	errs := make(chan error, 2)
	go func() { errs <- otlpSrv.Serve(otlp) }()
	go func() { errs <- adminSrv.Serve(admin) }()
	s.log.Info("ingester listening", "otlp", otlp.Addr().String(), "admin", admin.Addr().String(), "store", s.opts.Store.String())

	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	s.draining.Store(true)
	s.log.Info("shutting down: draining requests in flight", "grace", grace.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	drainCtx, cancelDrain := context.WithTimeout(shutdownCtx, drainShare(grace))
	defer cancelDrain()
	go silent.closeWhileDraining(drainCtx)
	if serr := otlpSrv.Shutdown(drainCtx); serr != nil {
		s.log.Error("requests still in flight when the drain's share of the grace period ended; the segment writer has the rest", "error", serr)
	}
	cancelDrain()
	if s.segments != nil {
		// Every request that was waiting has had its answer; this stops the writer's goroutine
		// after the flush of anything a request still in flight handed it.
		if cerr := s.segments.Close(shutdownCtx); cerr != nil {
			s.log.Error("segment flushes still running at the end of the grace period", "error", cerr)
		}
	}
	if s.openSegments != nil {
		// After the writer's Close: nothing appends any more. What is not sealed in time stays
		// readable, and the next process seals it.
		if cerr := s.openSegments.Close(shutdownCtx); cerr != nil {
			s.log.Error("open segments not sealed at the end of the grace period; the next start seals them", "error", cerr)
		}
	}
	// Last, so that /readyz keeps saying "shutting down" (and /metrics keeps answering) while the
	// writer flushes.
	adminSrv.Shutdown(shutdownCtx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
