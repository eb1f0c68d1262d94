package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

type loadConfig struct {
	url         string
	concurrency int
	warmup      time.Duration
	duration    time.Duration
	payload     *payload
	// atWindowEdge, if set, is called when the measured window opens and
	// again when it closes, so callers can take CPU readings that cover
	// exactly the window.
	atWindowEdge func()
}

type loadResult struct {
	concurrency int
	window      time.Duration
	ok          int   // 200 answers completed inside the window
	errors      int   // non-200 answers and transport failures inside the window
	warmupErrs  int   // failures during warm-up, reported so they are not hidden
	bytes       int64 // payload bytes of the ok requests
	// Every 200 answer, warm-up and stragglers included, to compare with
	// what a subject stored.
	allOK     int
	allBytes  int64
	latencies []time.Duration
	// fixed holds the percentiles a generator reported itself, when it keeps no latencies (wrk).
	fixed    map[float64]time.Duration
	firstErr string
}

func (r *loadResult) reqPerSec() float64 { return float64(r.ok) / r.window.Seconds() }
func (r *loadResult) mbPerSec() float64  { return float64(r.bytes) / 1e6 / r.window.Seconds() }

// percentile uses the nearest-rank method on the sorted latencies.
func (r *loadResult) percentile(p float64) time.Duration {
	if v, ok := r.fixed[p]; ok {
		return v
	}
	if len(r.latencies) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(r.latencies))+0.999999) - 1
	rank = max(0, min(rank, len(r.latencies)-1))
	return r.latencies[rank]
}

// workerStats is owned by one worker, so recording needs no locking.
type workerStats struct {
	ok, errors, warmupErrs, allOK int
	bytes, allBytes               int64
	latencies                     []time.Duration
	firstErr                      string
}

// runLoad drives a closed loop: each of the workers sends its next request as
// soon as the previous one is answered, so the offered load adapts to what
// the subject sustains and the req/s figure is its capacity at that
// concurrency. Only requests that complete inside the measured window count;
// the warm-up lets connections, caches and the subject's heap settle first.
func runLoad(ctx context.Context, cfg loadConfig) (*loadResult, error) {
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        cfg.concurrency * 2,
		MaxIdleConnsPerHost: cfg.concurrency * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		// OTLP/HTTP exporters speak HTTP/1.1 to plain-text endpoints.
		ForceAttemptHTTP2: false,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 60 * time.Second}

	begin := time.Now()
	windowStart := begin.Add(cfg.warmup)
	windowEnd := windowStart.Add(cfg.duration)

	stats := make([]workerStats, cfg.concurrency)
	var wg sync.WaitGroup
	var fatalOnce sync.Once
	var fatal error
	for w := range cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := worker(ctx, client, cfg, w, windowStart, windowEnd, &stats[w]); err != nil {
				fatalOnce.Do(func() { fatal = err })
			}
		}()
	}
	if cfg.atWindowEdge != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, t := range []time.Time{windowStart, windowEnd} {
				select {
				case <-time.After(time.Until(t)):
					cfg.atWindowEdge()
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Wait()
	if fatal != nil {
		return nil, fatal
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	res := &loadResult{concurrency: cfg.concurrency, window: cfg.duration}
	total := 0
	for i := range stats {
		total += len(stats[i].latencies)
	}
	res.latencies = make([]time.Duration, 0, total)
	for i := range stats {
		s := &stats[i]
		res.ok += s.ok
		res.errors += s.errors
		res.warmupErrs += s.warmupErrs
		res.bytes += s.bytes
		res.allOK += s.allOK
		res.allBytes += s.allBytes
		res.latencies = append(res.latencies, s.latencies...)
		if res.firstErr == "" {
			res.firstErr = s.firstErr
		}
	}
	slices.Sort(res.latencies)
	return res, nil
}

func worker(ctx context.Context, client *http.Client, cfg loadConfig, id int, windowStart, windowEnd time.Time, st *workerStats) error {
	// A private copy per worker: stamping a shared buffer would race with the
	// other workers' in-flight sends.
	buf := bytes.Clone(cfg.payload.body)
	expected := int(cfg.duration.Seconds()*2000/float64(cfg.concurrency)) + 64
	st.latencies = make([]time.Duration, 0, min(expected, 1<<20))

	for seq := uint64(0); ; seq++ {
		if ctx.Err() != nil {
			return nil
		}
		start := time.Now()
		if !start.Before(windowEnd) {
			return nil
		}
		cfg.payload.stamp(buf, id, seq)
		status, err := send(ctx, client, cfg.url, buf)
		end := time.Now()
		if errors.Is(err, errBodyLeak) {
			return err
		}

		failed := err != nil || status != http.StatusOK
		if !failed {
			st.allOK++
			st.allBytes += int64(len(buf))
		}
		if failed && st.firstErr == "" {
			if err != nil {
				st.firstErr = err.Error()
			} else {
				st.firstErr = fmt.Sprintf("HTTP %d", status)
			}
		}
		switch {
		case end.Before(windowStart):
			if failed {
				st.warmupErrs++
			}
		case end.Before(windowEnd):
			if failed {
				st.errors++
				continue
			}
			st.ok++
			st.bytes += int64(len(buf))
			st.latencies = append(st.latencies, end.Sub(start))
		}
	}
}

var errBodyLeak = errors.New("http transport did not release the request body")

// signalBody tells the worker when the transport has finished with the
// buffer. Client.Do can return (e.g. on an early response or an error) while
// the transport is still writing the body, and the next stamp must not
// change bytes that are still being sent.
type signalBody struct {
	bytes.Reader
	once   sync.Once
	closed chan struct{}
}

func (b *signalBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

func send(ctx context.Context, client *http.Client, url string, buf []byte) (int, error) {
	body := &signalBody{closed: make(chan struct{})}
	body.Reset(buf)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		return 0, err
	}
	// A known length avoids chunked encoding, as real OTLP exporters do.
	req.ContentLength = int64(len(buf))
	req.Header.Set("Content-Type", "application/x-protobuf")

	resp, err := client.Do(req)
	status := 0
	if err == nil {
		status = resp.StatusCode
		// Draining lets the connection go back to the keep-alive pool.
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	select {
	case <-body.closed:
	default:
		// Rare slow path, kept off the common one to spare a timer per request.
		select {
		case <-body.closed:
		case <-time.After(30 * time.Second):
			return status, errBodyLeak
		}
	}
	return status, err
}
