package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/telemetrylake/telemetrylake/lake/store"
)

// storeHealth tracks whether the store answers, for /readyz. A request whose store call failed
// marks it down as soon as its store step ends, before it is answered; only a successful ping marks
// it up again, so a flapping store does not flap readiness per request.
type storeHealth struct {
	store    store.Store
	interval time.Duration
	timeout  time.Duration
	gauge    prometheus.Gauge
	log      *slog.Logger

	mu      sync.Mutex
	up      bool
	lastErr error
	recheck chan struct{}
}

func newStoreHealth(s store.Store, interval, timeout time.Duration, gauge prometheus.Gauge, log *slog.Logger) *storeHealth {
	return &storeHealth{store: s, interval: interval, timeout: timeout, gauge: gauge, log: log, recheck: make(chan struct{}, 1)}
}

// run pings until ctx ends: every interval, and right away after a failed write.
func (h *storeHealth) run(ctx context.Context) {
	h.ping(ctx)
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.recheck:
		}
		h.ping(ctx)
	}
}

func (h *storeHealth) ping(ctx context.Context) {
	pingCtx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	err := h.store.Ping(pingCtx)
	if ctx.Err() != nil {
		return // shutting down: the answer says nothing about the store
	}
	h.set(err)
}

// observe judges the store by a request's store calls: one that failed marks it down at once.
func (h *storeHealth) observe(res storeResult) {
	for _, op := range res.ops {
		if op.err != nil {
			h.failed(op.err)
			return
		}
	}
}

func (h *storeHealth) failed(err error) {
	h.set(err)
	select {
	case h.recheck <- struct{}{}:
	default:
	}
}

func (h *storeHealth) set(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	wasUp := h.up
	h.up, h.lastErr = err == nil, err
	switch {
	case err == nil && !wasUp:
		h.log.Info("store is reachable", "store", h.store.String())
		h.gauge.Set(1)
	case err != nil && wasUp:
		h.log.Error("store is unreachable: answering 503 and failing /readyz until it is back", "store", h.store.String(), "error", err)
		h.gauge.Set(0)
	}
}

// state reports readiness and, when down, why.
func (h *storeHealth) state() (up bool, why error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.up, h.lastErr
}
