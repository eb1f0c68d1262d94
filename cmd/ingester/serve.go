package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/ingester/auth"
	"github.com/telemetrylake/telemetrylake/ingester/server"
	"github.com/telemetrylake/telemetrylake/lake/store"
)

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	configFile := fs.String("config", "", "YAML config file (the operator renders it); flags override its fields")
	listen := fs.String("listen", ingesterconfig.DefaultListen, "OTLP/HTTP listen address")
	adminListen := fs.String("admin-listen", ingesterconfig.DefaultAdminListen, "admin listen address for /metrics, /healthz and /readyz")
	storage := fs.String("storage", "", "store URL: file:///dir or s3://bucket/prefix?endpoint=URL&region=R&path_style=true")
	maxBody := fs.Int64("max-body-bytes", ingesterconfig.DefaultMaxBodyBytes, "limit on a request body as sent (compressed)")
	allowAnonymous := fs.Bool("allow-anonymous", false, "accept requests without credentials (local development only)")
	tokenFile := fs.String("token-file", "", "bearer-token file (see `ingester token new`); overrides auth.tokenFile in --config")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	profiling := fs.Bool("enable-pprof", false, "serve /debug/pprof on the admin listener")
	storeLayout := fs.String("layout", "", "how blocks are written: segments (the default; group-committed, storage v2) or blocks (one object per block); overrides layout in --config")
	fileMode := fs.String("segments-file-mode", "", "how a flush is made durable on a file store: append (the default; to an open segment, one fdatasync) or create (a file per segment); overrides segments.fileMode in --config")
	maxBatch := fs.Int("segments-max-batch-bytes", 0, "close a flush's batch at this many bytes of blocks (default 128 KiB on S3, 16 MiB on a file store); overrides segments.maxBatchBytes in --config")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	cfg := ingesterconfig.Config{}
	if *configFile != "" {
		var err error
		if cfg, err = ingesterconfig.Load(*configFile); err != nil {
			return err
		}
	}
	// A flag given on the command line wins over the file; a default only fills a gap in it.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	override := func(name string, dst *string, v string) {
		if set[name] || *dst == "" {
			*dst = v
		}
	}
	override("listen", &cfg.Listen, *listen)
	override("admin-listen", &cfg.AdminListen, *adminListen)
	override("storage", &cfg.Storage, *storage)
	override("log-level", &cfg.LogLevel, *logLevel)
	if set["max-body-bytes"] || cfg.Limits.MaxBodyBytes == 0 {
		cfg.Limits.MaxBodyBytes = *maxBody
	}
	if set["allow-anonymous"] {
		cfg.AllowAnonymous = *allowAnonymous
	}
	override("token-file", &cfg.Auth.TokenFile, *tokenFile)
	if set["layout"] {
		cfg.Layout = ingesterconfig.Layout(*storeLayout)
	}
	if set["segments-file-mode"] {
		cfg.Segments.FileMode = ingesterconfig.SegmentFileMode(*fileMode)
	}
	if set["segments-max-batch-bytes"] {
		cfg.Segments.MaxBatchBytes = *maxBatch
	}
	if err := cfg.Validate(); err != nil {
		return err
	}

	log, err := newLogger(cfg.LogLevel, cfg.Tenant)
	if err != nil {
		return err
	}
	if cfg.Storage == "" {
		return errors.New("no storage: pass --storage file:///dir or s3://bucket/prefix?..., or set storage in --config")
	}
	if !cfg.AllowAnonymous && !cfg.Auth.Configured() {
		return errors.New("no authentication is configured: set auth.tokenFile (tokens from `ingester token new`), auth.oidc or auth.kubernetes in --config, or pass --token-file; for local development only, --allow-anonymous accepts every request")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	registry := prometheus.NewRegistry()
	// Not ctx: token reloads and OIDC discovery must go on while draining after SIGTERM.
	authCtx, stopAuth := context.WithCancel(context.Background())
	defer stopAuth()
	authn, err := newAuthenticator(authCtx, cfg, registry, log)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.Storage)
	if err != nil {
		return err
	}
	// The segment writer makes one file per flush, one flush at a time: its own fdatasync and
	// directory fsync wait for nothing but its own bytes, where a shared syncfs waits for every
	// dirty page of the filesystem. Measured with make bench (segments, c=32, 2 cores shared
	// with other work), against the durable floor in the same run: 5 KiB bodies 0.46, 0.58,
	// 0.73x with it and 0.69, 0.56, 0.51x with syncfs (level, within the noise); 1 MiB bodies
	// 0.96x against 0.87x. It is kept for the large bodies, and so that another writer on the
	// same filesystem cannot slow the ingester's acknowledgements. With open segments (the
	// default, segments.fileMode append) it is what flushes of 1 MiB or more and seals use; the
	// appends have their own one fdatasync.
	if fileStore, ok := st.(*store.FileStore); ok && cfg.Layout != ingesterconfig.LayoutBlocks {
		fileStore.SyncEachObject()
	}
	defer st.Close()

	// Zero fields take their defaults in server.New, from the same constants the config documents.
	srv := server.New(server.Options{
		Store: st,
		Auth:  authn,
		Limits: server.Limits{
			MaxBodyBytes:          cfg.Limits.MaxBodyBytes,
			MaxDecompressedBytes:  cfg.Limits.MaxDecompressedBytes,
			MaxDecompressionRatio: cfg.Limits.MaxDecompressionRatio,
			MaxInflightBytes:      cfg.Limits.MaxInflightBytes,
		},
		Tenant:             cfg.Tenant,
		StoreTimeout:       cfg.StoreTimeout.Duration,
		CORSAllowedOrigins: cfg.CORS.AllowedOrigins,
		Profiling:          *profiling,
		Layout:             cfg.Layout,
		Segments:           server.SegmentOptions{MaxDelay: cfg.Segments.MaxDelay.Duration, MaxInFlight: cfg.Segments.MaxInFlight, FileMode: cfg.Segments.FileMode, MaxBatchBytes: cfg.Segments.MaxBatchBytes},
		Logger:             log,
		Registry:           registry,
	})
	otlpLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	adminLn, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "OTLP/HTTP on http://%s\n  export OTEL_EXPORTER_OTLP_ENDPOINT=http://%s/ingestion/otlp\n", otlpLn.Addr(), printableAddr(otlpLn.Addr()))
	return srv.Run(delayed(ctx, cfg.ShutdownDelay.Duration, log), otlpLn, adminLn, cfg.ShutdownGracePeriod.Duration)
}

// newAuthenticator builds the auth chain, or, with nothing but allowAnonymous configured, accepts
// everyone. Anonymous access is logged loudly either way.
func newAuthenticator(ctx context.Context, cfg ingesterconfig.Config, registry *prometheus.Registry, log *slog.Logger) (server.Authenticator, error) {
	if cfg.AllowAnonymous {
		what := "every request is accepted without credentials"
		if cfg.Auth.Configured() {
			what = "requests without an Authorization header are accepted"
		}
		log.Warn("ANONYMOUS ACCESS: " + what + "; anyone who can reach " + cfg.Listen + " can write into " + redactStorage(cfg.Storage))
	}
	if !cfg.Auth.Configured() {
		return server.AllowAnonymous{}, nil
	}
	return auth.New(ctx, cfg.Auth, auth.Options{AllowAnonymous: cfg.AllowAnonymous, Logger: log, Registerer: registry})
}

// delayed ends 'delay' after ctx does, so that the ingester keeps serving while load balancers
// notice that it is going away.
func delayed(ctx context.Context, delay time.Duration, log *slog.Logger) context.Context {
	if delay <= 0 {
		return ctx
	}
	out, cancel := context.WithCancel(context.Background())
	go func() {
		<-ctx.Done()
		log.Info("shutdown requested: still serving during the shutdown delay", "delay", delay.String())
		time.Sleep(delay)
		cancel()
	}()
	return out
}

func newLogger(level, tenant string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
	if tenant != "" {
		log = log.With("tenant", tenant)
	}
	slog.SetDefault(log)
	return log, nil
}

// printableAddr turns a wildcard listen address into one a client on this host can use.
func printableAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil || (host != "" && host != "::" && host != "0.0.0.0") {
		return a.String()
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// redactStorage drops a URL's query, which may carry an endpoint with credentials in it.
func redactStorage(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}
