// Command bareserver is the baseline subject of the benchmark: the cheapest
// possible HTTP endpoint that still consumes a whole request body. Whatever it
// achieves is roughly what the machine, the kernel loopback and Go's net/http
// allow, so other subjects are compared against it.
//
// With --storage it also stores each body through the ingester's own Store, as
// one block with its metadata, create-only and durable, and answers after that:
// the storage contract (docs/contracts/storage.md §4) with no OTLP work at all.
// What it reaches is the most that any ingester which keeps that contract can
// reach here.
//
// With --append it is the durable floor instead (see appendLog): each body hashed and appended to
// one file, answered once a group-committed fdatasync covers it.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:4318", "address to listen on")
	storage := flag.String("storage", "", "store each body in this store (file:///dir), as the ingester stores a block")
	appendTo := flag.String("append", "", "append each body and its SHA-256 to this file, answering after a group-committed fdatasync")
	flag.Parse()
	if *storage != "" && *appendTo != "" {
		log.Fatal("bareserver: --storage and --append are two different subjects; give one")
	}

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the full body keeps the comparison honest: every subject
		// has to pull the same bytes off the socket.
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	if *storage != "" {
		st, err := store.Open(context.Background(), *storage)
		if err != nil {
			log.Fatalf("bareserver: %v", err)
		}
		defer st.Close()
		handler = storeBodies(st)
	}
	if *appendTo != "" {
		l, err := openAppendLog(*appendTo)
		if err != nil {
			log.Fatalf("bareserver: %v", err)
		}
		handler = appendBodies(l)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("bareserver: %v", err)
	}
	log.Printf("bareserver: listening on %s", ln.Addr())

	// A graceful stop on SIGTERM lets the bench tell "stopped on request"
	// apart from "crashed".
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()

	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("bareserver: %v", err)
	}
	log.Printf("bareserver: stopped")
}

// storeBodies stores each body as the ingester stores a one-block request: under its block key
// (the same content address, so the same hashing), with a block's metadata, answering 200 once it
// is durable.
func storeBodies(st store.Store) http.HandlerFunc {
	return durably(func(r *http.Request, body []byte) error {
		meta := layout.BlockMeta{Signal: layout.Logs, Records: 10, MinTime: 1795000000000000000, MaxTime: 1795000000900000000}
		_, key := layout.BlockAddress(meta, body)
		_, err := st.Create(r.Context(), key, body, meta.Map())
		return err
	})
}

// durably reads each body whole and answers 200 once write has made it durable, 503 if write
// failed. An empty body is the bench's readiness probe: 200 with nothing written.
func durably(write func(r *http.Request, body []byte) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body bytes.Buffer
		if r.ContentLength > 0 {
			body.Grow(int(r.ContentLength))
		}
		if _, err := body.ReadFrom(r.Body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if body.Len() > 0 {
			if err := write(r, body.Bytes()); err != nil {
				log.Printf("bareserver: %v", err)
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}
		w.WriteHeader(http.StatusOK)
	}
}
