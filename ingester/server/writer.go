package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/telemetrylake/telemetrylake/ingester/otlpwire"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
)

// blockWriter stores the blocks of one request, and the process record of each process it sees for
// the first time. It returns only once everything is durable, or with the first error.
type blockWriter struct {
	store   store.Store
	metrics *metrics
	seen    *processCache
	health  *storeHealth

	mu       sync.Mutex
	inFlight map[string]*pendingWrite // by key
}

// pendingWrite is a store write that other requests for the same key wait on instead of
// repeating it: retries and fan-in make identical concurrent writes common, and each repeat
// would cost the store a conditional write that can only fail.
type pendingWrite struct {
	done chan struct{}
	err  error
}

func newBlockWriter(st store.Store, m *metrics, h *storeHealth) *blockWriter {
	return &blockWriter{store: st, metrics: m, seen: newProcessCache(processCacheSize), health: h, inFlight: map[string]*pendingWrite{}}
}

// maxParallelWrites bounds the store calls one request makes at once; most requests carry a single
// resource, so this only matters for fan-in senders like a Collector.
const maxParallelWrites = 16

func (w *blockWriter) write(ctx context.Context, blocks []otlpwire.Block) error {
	if len(blocks) == 1 {
		return w.writeBlock(ctx, &blocks[0])
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		slots    = make(chan struct{}, maxParallelWrites)
	)
	for i := range blocks {
		slots <- struct{}{}
		wg.Add(1)
		go func(b *otlpwire.Block) {
			defer func() { <-slots; wg.Done() }()
			if err := w.writeBlock(ctx, b); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}(&blocks[i])
	}
	wg.Wait()
	return firstErr
}

func (w *blockWriter) writeBlock(ctx context.Context, b *otlpwire.Block) error {
	if err := w.recordProcess(ctx, b); err != nil {
		return err
	}
	created, err := w.create(ctx, b.Key(), b.Bytes, b.Meta.Map())
	if err != nil {
		return err
	}
	signal := string(b.Meta.Signal)
	if created {
		w.metrics.blocksWritten.WithLabelValues(signal).Inc()
	} else {
		w.metrics.blocksDuplicate.WithLabelValues(signal).Inc()
	}
	return nil
}

// recordProcess writes the process record on first sight. Which writer wins a race does not
// matter: the record is derived from the identity the id is derived from.
func (w *blockWriter) recordProcess(ctx context.Context, b *otlpwire.Block) error {
	id := b.Meta.ProcessID
	if w.seen.has(id) {
		return nil
	}
	rec, err := otlpwire.NewProcessRecord(id, b.Resource, b.Meta.MinTime)
	if err != nil {
		return fmt.Errorf("process record %s: %w", id, err)
	}
	doc, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	created, err := w.create(ctx, layout.ProcessKey(id), doc, nil)
	if err != nil {
		return err
	}
	if created {
		w.metrics.processes.Inc()
	}
	w.seen.add(id)
	return nil
}

// create writes one object, or waits for the same write already under way; either way it returns
// once the object is durable. Only the write that stored it reports created.
func (w *blockWriter) create(ctx context.Context, key string, data []byte, meta map[string]string) (bool, error) {
	w.mu.Lock()
	if p, ok := w.inFlight[key]; ok {
		w.mu.Unlock()
		select {
		case <-p.done:
			return false, p.err
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	p := &pendingWrite{done: make(chan struct{})}
	w.inFlight[key] = p
	w.mu.Unlock()

	created, err := w.timedCreate(ctx, key, data, meta)

	w.mu.Lock()
	delete(w.inFlight, key)
	w.mu.Unlock()
	p.err = err
	close(p.done)
	return created, err
}

func (w *blockWriter) timedCreate(ctx context.Context, key string, data []byte, meta map[string]string) (bool, error) {
	start := time.Now()
	created, err := w.store.Create(ctx, key, data, meta)
	result := "created"
	switch {
	case err != nil:
		result = "error"
		w.health.failed(err)
	case !created:
		result = "duplicate"
	}
	w.metrics.storeDuration.WithLabelValues(result).Observe(time.Since(start).Seconds())
	return created, err
}

// processCache remembers processes already recorded, so that their record is written once per
// ingester lifetime rather than once per request. It forgets everything when full: the cost of
// forgetting is one create-only write that comes back as a duplicate.
type processCache struct {
	mu    sync.Mutex
	ids   map[layout.UUID]struct{}
	limit int
}

func newProcessCache(limit int) *processCache {
	return &processCache{ids: make(map[layout.UUID]struct{}), limit: limit}
}

func (c *processCache) has(id layout.UUID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.ids[id]
	return ok
}

func (c *processCache) add(id layout.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ids) >= c.limit {
		clear(c.ids)
	}
	c.ids[id] = struct{}{}
}
