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
	store store.Store
	seen  *processCache

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

func newBlockWriter(st store.Store) *blockWriter {
	return &blockWriter{store: st, seen: newProcessCache(processCacheSize), inFlight: map[string]*pendingWrite{}}
}

// storeResult is what the store step did for one request: the one account of it, which the
// metrics count from and the store's health is judged by.
type storeResult struct {
	blocksCreated    int // stored for the first time
	blocksDuplicate  int // already stored: a retried or repeated request
	processesCreated int
	// ops are the store calls made, in no particular order. A write that waited on the same
	// write of another request made none.
	ops []storeOp
	// err is why not every block is durable; nil when all are.
	err error
}

// storeOp is one store call.
type storeOp struct {
	result string // created, duplicate or error
	took   time.Duration
	err    error // the store's error, when result is error
}

const (
	opCreated   = "created"
	opDuplicate = "duplicate"
	opError     = "error"
)

func (r *storeResult) add(o storeResult) {
	r.blocksCreated += o.blocksCreated
	r.blocksDuplicate += o.blocksDuplicate
	r.processesCreated += o.processesCreated
	r.ops = append(r.ops, o.ops...)
	if r.err == nil {
		r.err = o.err
	}
}

// failure is the request's answer to a store that did not make every block durable.
func (r *storeResult) failure() *failure {
	if r.err == nil {
		return nil
	}
	return failWith(storeUnavailable, r.err, "the lake's storage is unavailable: nothing from this request counts as stored, retry later")
}

// maxParallelWrites bounds the store calls one request makes at once; most requests carry a single
// resource, so this only matters for fan-in senders like a Collector.
const maxParallelWrites = 16

func (w *blockWriter) write(ctx context.Context, blocks []addressedBlock) storeResult {
	if len(blocks) == 1 {
		return w.writeBlock(ctx, &blocks[0])
	}
	var (
		wg      sync.WaitGroup
		results = make([]storeResult, len(blocks))
		slots   = make(chan struct{}, maxParallelWrites)
	)
	for i := range blocks {
		slots <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-slots; wg.Done() }()
			results[i] = w.writeBlock(ctx, &blocks[i])
		}(i)
	}
	wg.Wait()
	var all storeResult
	for _, r := range results {
		all.add(r)
	}
	return all
}

func (w *blockWriter) writeBlock(ctx context.Context, b *addressedBlock) (res storeResult) {
	if res.err = w.recordProcess(ctx, b, &res); res.err != nil {
		return res
	}
	created, err := w.create(ctx, layout.BlockKey(b.Meta.Signal, b.Meta.MinTime, b.id), b.Bytes, b.Meta.Map(), &res)
	switch {
	case err != nil:
		res.err = err
	case created:
		res.blocksCreated++
	default:
		res.blocksDuplicate++
	}
	return res
}

// processRecord is the JSON document of the process a block names (layout.NewProcessRecord),
// as both storage layouts write it to processes/.
func processRecord(b *addressedBlock) ([]byte, error) {
	attrs, err := otlpwire.ResourceAttributes(b.Resource)
	if err != nil {
		return nil, fmt.Errorf("process record %s: %w", b.Meta.ProcessID, err)
	}
	return json.Marshal(layout.NewProcessRecord(b.Meta.ProcessID, attrs, b.Meta.MinTime))
}

// recordProcess writes the process record on first sight. Which writer wins a race does not
// matter: the record is derived from the identity the id is derived from.
func (w *blockWriter) recordProcess(ctx context.Context, b *addressedBlock, res *storeResult) error {
	id := b.Meta.ProcessID
	if w.seen.has(id) {
		return nil
	}
	doc, err := processRecord(b)
	if err != nil {
		return err
	}
	created, err := w.create(ctx, layout.ProcessKey(id), doc, nil, res)
	if err != nil {
		return err
	}
	if created {
		res.processesCreated++
	}
	w.seen.add(id)
	return nil
}

// create writes one object, or waits for the same write already under way; either way it returns
// once the object is durable. Only the write that stored it reports created, and only a call to
// the store is added to res.ops.
func (w *blockWriter) create(ctx context.Context, key string, data []byte, meta map[string]string, res *storeResult) (bool, error) {
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

	start := time.Now()
	created, err := w.store.Create(ctx, key, data, meta)
	op := storeOp{result: opCreated, took: time.Since(start), err: err}
	switch {
	case err != nil:
		op.result = opError
	case !created:
		op.result = opDuplicate
	}
	res.ops = append(res.ops, op)

	w.mu.Lock()
	delete(w.inFlight, key)
	w.mu.Unlock()
	p.err = err
	close(p.done)
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
