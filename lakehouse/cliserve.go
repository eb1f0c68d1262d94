//go:build cgo

package lakehouse

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// runServe is `lakehouse serve`: the PostgreSQL wire protocol over the lake until ctx ends.
func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("lakehouse serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c commonFlags
	c.registerStore(fs)
	var o ServeOptions
	listen := fs.String("listen", "127.0.0.1:5432", "address to listen on")
	adminListen := fs.String("admin-listen", "", "address for /metrics and /healthz (default: none)")
	fs.StringVar(&o.TokenFile, "token-file", "", "the tenant's token file (api/tokenfile format); a token with the query permission is the password")
	fs.BoolVar(&o.AllowAnonymous, "allow-anonymous", false, "accept any password: for local use only")
	cert := fs.String("tls-cert", "", "TLS certificate (PEM); with --tls-key, TLS is required")
	key := fs.String("tls-key", "", "TLS private key (PEM)")
	fs.DurationVar(&o.DefaultWindow, "default-window", DefaultServeWindow, "what a statement reads when its predicates bound neither end of time")
	fs.DurationVar(&o.MaxWindow, "max-window", DefaultMaxWindow, "the longest window one statement may read")
	fs.IntVar(&o.MaxRows, "max-rows", DefaultMaxRows, "rows per result")
	fs.Int64Var(&o.MaxResultBytes, "max-result-bytes", DefaultMaxResultBytes, "bytes of values per result")
	fs.DurationVar(&o.StatementTimeout, "statement-timeout", DefaultStatementTimeout, "longest a statement may run (a session's statement_timeout may lower it)")
	fs.IntVar(&o.MaxConcurrentQueries, "max-concurrent-queries", DefaultMaxConcurrentQueries, "statements reading the lake at once")
	fs.DurationVar(&o.QueueTimeout, "queue-timeout", DefaultQueueTimeout, "how long a statement waits for a free slot")
	fs.IntVar(&o.MaxConnections, "max-connections", DefaultMaxConnections, "connections logged in at once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	if (*cert == "") != (*key == "") {
		return errors.New("serve: --tls-cert and --tls-key go together")
	}
	if o.TokenFile != "" && o.AllowAnonymous {
		return errors.New("serve: --token-file and --allow-anonymous exclude each other")
	}
	if *cert != "" {
		pair, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		o.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	st, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	o.Store, o.CacheDir, o.CacheMaxBytes = st, c.cache, c.cacheMaxBytes
	o.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	if o.AllowAnonymous {
		o.Logger.Warn("--allow-anonymous: ANY password is accepted; anyone who reaches " + *listen + " reads this lake. For local use only.")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	o.Registry = reg
	srv, err := NewServer(ctx, o)
	if err != nil {
		return err
	}
	defer srv.Close()
	if *adminListen != "" {
		aln, err := net.Listen("tcp", *adminListen)
		if err != nil {
			return fmt.Errorf("serve: --admin-listen: %w", err)
		}
		admin := &http.Server{Handler: AdminHandler(reg), ReadHeaderTimeout: 10 * time.Second}
		go admin.Serve(aln)
		defer admin.Close()
		o.Logger.Info("serving /metrics and /healthz", "admin_listen", aln.Addr().String())
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	o.Logger.Info("serving the PostgreSQL wire protocol", "listen", ln.Addr().String(), "storage", st.String(), "tls", o.TLS != nil)
	return srv.Serve(ctx, ln)
}
