package server

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// silentAfter is how long a connection may have sent nothing before a drain closes it.
const silentAfter = time.Second

// silentConns tracks the OTLP server's connections that have not sent a whole request header
// yet (http.StateNew). net/http's Shutdown waits up to 5 s for each: it cannot tell a spare
// connection, which Go's client and others dial in a burst and may never use, from one about to
// send. Measured in CI: 100 concurrent POSTs left such a connection, the drain waited the whole
// 5 s of the test's grace period although nothing was in flight, and the segment writer's last
// flush and seal, which come after the drain, found the grace period over.
type silentConns struct {
	mu    sync.Mutex
	since map[net.Conn]time.Time
}

func newSilentConns() *silentConns { return &silentConns{since: map[net.Conn]time.Time{}} }

// track is the server's ConnState hook. It runs on every request (active, then idle); idle
// needs nothing, since a connection leaves the map at its first request.
func (c *silentConns) track(conn net.Conn, state http.ConnState) {
	if state == http.StateIdle {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if state == http.StateNew {
		c.since[conn] = time.Now()
	} else {
		delete(c.since, conn)
	}
}

// closeWhileDraining closes, until ctx ends, every connection that has sent nothing for
// silentAfter. What such a client sends later was never read, so never answered, and it retries
// it elsewhere: the ingester is not ready any more (/readyz) and its listener is closed.
func (c *silentConns) closeWhileDraining(ctx context.Context) {
	tick := time.NewTicker(silentAfter / 4)
	defer tick.Stop()
	for {
		c.mu.Lock()
		for conn, since := range c.since {
			if time.Since(since) >= silentAfter {
				conn.Close()
				delete(c.since, conn)
			}
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// drainShare is how much of the grace period the HTTP drain may take: all but its last quarter
// (at most 5 s), so that the segment writer's last flush (of what requests still in flight handed
// it) and the seal of the open segment keep time of their own even when a request holds the
// drain to its end.
func drainShare(grace time.Duration) time.Duration {
	return grace - min(grace/4, 5*time.Second)
}
