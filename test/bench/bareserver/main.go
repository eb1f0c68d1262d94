// Command bareserver is the baseline subject of the benchmark: the cheapest
// possible HTTP endpoint that still consumes a whole request body. Whatever it
// achieves is roughly what the machine, the kernel loopback and Go's net/http
// allow, so other subjects are compared against it.
package main

import (
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
)

func main() {
	listen := flag.String("listen", "127.0.0.1:4318", "address to listen on")
	flag.Parse()

	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Reading the full body keeps the comparison honest: every subject
			// has to pull the same bytes off the socket.
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusOK)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}

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
