// Package groupcommit is the ingester's segment writer (storage v2): requests hand it their
// blocks and wait; it packs everything pending into segments and makes them durable together, so
// a store write and its barriers are paid once per flush, not once per block.
//
// A flush starts as soon as a flush slot is free (group commit): at low load every request gets a
// flush of its own and waits no longer than one write, and under load the blocks that arrive
// during a flush form the next batch, so batches grow by themselves. A batch is closed at
// MaxBatchBytes; MaxDelay may make a flush wait for more blocks. Several flushes may be in flight
// (MaxInFlight), which is what a store with high per-write latency and ample bandwidth (S3) needs.
//
// Exactly once inside the process: a block already pending joins the flush that carries it, and
// one landed recently is answered without a write. Across processes the same block may land in
// two segments; readers count it once by its id (see the storage contract).
//
// It must not know OTLP or HTTP: blocks are bytes with an id and metadata.
package groupcommit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/segment"
	"github.com/telemetrylake/telemetrylake/lake/store"
)

// Defaults, each measured or reasoned in the storage contract.
const (
	// DefaultMaxBatchBytes caps a flush's blocks, so a segment stays a size that one GET reads
	// whole and a slow flush does not hold an unbounded batch.
	DefaultMaxBatchBytes = 16 << 20
	// DefaultRememberBlocks is how many landed block ids the writer keeps to answer a repeat
	// without a write: at 1,000 blocks/s, about a minute of retries.
	DefaultRememberBlocks = 1 << 16
	// DefaultStoreTimeout bounds one flush's store writes; a flush is shared by many requests,
	// so no one request's context may cancel it.
	DefaultStoreTimeout = 10 * time.Second
)

// Config says how a Writer batches. Zero fields take the defaults.
type Config struct {
	Store store.Store
	// MaxBatchBytes closes a batch once its blocks reach this many bytes.
	MaxBatchBytes int
	// MaxDelay lets a flush wait this long after a batch's first block for more blocks; 0
	// flushes as soon as a slot is free.
	MaxDelay time.Duration
	// MaxInFlight is how many flushes may write at once; default 1.
	MaxInFlight int
	// RememberBlocks bounds the set of landed block ids kept for repeats.
	RememberBlocks int
	// StoreTimeout bounds each flush's writes.
	StoreTimeout time.Duration
	// SegmentMetadata keeps the index's summary as object metadata (S3 user metadata). A file
	// store needs none: the index is in the file.
	SegmentMetadata bool
	// Open, if set, makes a flush append its segments to this process's open segment on a file
	// store, one barrier per flush, instead of writing each to a file of its own (two); they are
	// sealed into ordinary segments later. Process records are written to Store either way.
	Open *OpenSegments
	// AppendBelow is the size of a flush's segments from which they are written as objects of
	// their own even with Open; default DefaultAppendBelow.
	AppendBelow int
	// OnFlush, if set, is told about every flush once it is over.
	OnFlush func(FlushStats)
}

// FlushStats describes one flush, for metrics.
type FlushStats struct {
	Blocks, Segments, Processes, Bytes int
	// Appended says the flush went to the open segment (Config.Open), not to objects of its own.
	Appended bool
	Duration time.Duration
	Err      error
}

// Result is what one Write did.
type Result struct {
	// Stored counts the blocks this call put in a segment; Duplicates the ones it found pending
	// or landed already (a retry, or the same entry sent twice).
	Stored, Duplicates int
	// Processes counts the process records this call added.
	Processes int
}

// ProcessRecord returns the process record (JSON) of block i of a Write. The writer calls it only
// for a process it has not stored yet.
type ProcessRecord func(i int) ([]byte, error)

// ErrClosed is returned by a Write after Close.
var ErrClosed = errors.New("the segment writer is closed")

// Writer is one process's segment writer. Its methods are safe for concurrent use.
type Writer struct {
	cfg Config

	mu       sync.Mutex
	open     *batch   // the batch that new blocks join; nil when none is open
	queue    []*batch // batches closed at MaxBatchBytes, oldest first, waiting for a slot
	inFlight int
	pending  map[layout.UUID]*batch // blocks of batches not yet durable
	landed   *recentSet             // block ids durable in a segment
	procs    map[layout.UUID]*batch // process records pending
	stored   *recentSet             // process ids whose record is durable
	closed   bool

	wake    chan struct{}
	stopped chan struct{}
}

// batch is the blocks and process records of one flush.
type batch struct {
	blocks []segment.Block
	procs  []processWrite
	bytes  int
	first  time.Time
	done   chan struct{} // closed when the flush is over; err is set before
	err    error
}

type processWrite struct {
	id     layout.UUID
	record []byte
}

// New starts a writer; Close stops it.
func New(cfg Config) *Writer {
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 1
	}
	if cfg.RememberBlocks <= 0 {
		cfg.RememberBlocks = DefaultRememberBlocks
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = DefaultStoreTimeout
	}
	if cfg.AppendBelow <= 0 {
		cfg.AppendBelow = DefaultAppendBelow
	}
	w := &Writer{
		cfg:     cfg,
		pending: map[layout.UUID]*batch{},
		landed:  newRecentSet(cfg.RememberBlocks),
		procs:   map[layout.UUID]*batch{},
		stored:  newRecentSet(cfg.RememberBlocks),
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	go w.dispatch()
	return w
}

// Write hands blocks to the writer and returns once every one of them is durable in a segment
// (with the process record of each process not stored before), or with the error of a flush
// that failed, in which case none of this call's blocks may be counted as stored. A cancelled ctx
// stops the wait, not the flush. Write copies what it keeps: the caller may reuse the blocks'
// bytes once it returns, even after a cancelled wait.
func (w *Writer) Write(ctx context.Context, blocks []segment.Block, record ProcessRecord) (Result, error) {
	var res Result
	var waits []*batch
	wait := func(b *batch) {
		if !slices.Contains(waits, b) {
			waits = append(waits, b)
		}
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return res, ErrClosed
	}
	for i, b := range blocks {
		added, err := w.addProcess(b.Meta.ProcessID, i, record, wait)
		if err != nil {
			w.mu.Unlock()
			return res, err
		}
		if added {
			res.Processes++
		}
		switch pending := w.pending[b.ID]; {
		case pending != nil:
			res.Duplicates++
			wait(pending)
		case w.landed.has(b.ID):
			res.Duplicates++
		default:
			bt := w.batchFor(len(b.Bytes))
			b.Bytes = append([]byte(nil), b.Bytes...)
			bt.blocks = append(bt.blocks, b)
			bt.bytes += len(b.Bytes)
			w.pending[b.ID] = bt
			res.Stored++
			wait(bt)
		}
	}
	w.mu.Unlock()
	w.signal()

	for _, b := range waits {
		select {
		case <-b.done:
			if b.err != nil {
				return Result{}, b.err
			}
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	return res, nil
}

// addProcess puts a process record in the open batch unless it is stored or pending already;
// added says whether it did.
func (w *Writer) addProcess(id layout.UUID, i int, record ProcessRecord, wait func(*batch)) (added bool, err error) {
	if w.stored.has(id) {
		return false, nil
	}
	if bt := w.procs[id]; bt != nil {
		wait(bt)
		return false, nil
	}
	doc, err := record(i)
	if err != nil {
		return false, fmt.Errorf("process record %s: %w", id, err)
	}
	bt := w.batchFor(len(doc))
	bt.procs = append(bt.procs, processWrite{id: id, record: doc})
	bt.bytes += len(doc)
	w.procs[id] = bt
	wait(bt)
	return true, nil
}

// batchFor returns the open batch, closing it first if n more bytes would take it past
// MaxBatchBytes. The caller holds mu.
func (w *Writer) batchFor(n int) *batch {
	if w.open != nil && w.open.bytes > 0 && w.open.bytes+n > w.cfg.MaxBatchBytes {
		w.queue = append(w.queue, w.open)
		w.open = nil
	}
	if w.open == nil {
		w.open = &batch{first: time.Now(), done: make(chan struct{})}
	}
	return w.open
}

func (w *Writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// dispatch starts a flush whenever a slot is free and a batch is ready.
func (w *Writer) dispatch() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		w.mu.Lock()
		bt, retry := w.next(time.Now())
		if bt == nil && w.closed && w.open == nil && len(w.queue) == 0 && w.inFlight == 0 {
			w.mu.Unlock()
			close(w.stopped)
			return
		}
		if bt != nil {
			w.inFlight++
		}
		w.mu.Unlock()
		if bt != nil {
			go w.flush(bt)
			continue
		}
		if retry > 0 {
			timer.Reset(retry)
		}
		select {
		case <-w.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// next takes the batch to flush now, if any; otherwise retry is how long a lingering batch still
// waits (0: wait for a signal). The caller holds mu.
func (w *Writer) next(now time.Time) (bt *batch, retry time.Duration) {
	if w.inFlight >= w.cfg.MaxInFlight {
		return nil, 0
	}
	if len(w.queue) > 0 {
		bt, w.queue = w.queue[0], w.queue[1:]
		return bt, 0
	}
	if w.open == nil {
		return nil, 0
	}
	if age := now.Sub(w.open.first); !w.closed && age < w.cfg.MaxDelay {
		return nil, w.cfg.MaxDelay - age
	}
	bt, w.open = w.open, nil
	return bt, 0
}

// flush writes a batch: one segment per signal and hour, and its process records, all at once.
func (w *Writer) flush(bt *batch) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.StoreTimeout)
	defer cancel()

	segments, err := encode(bt.blocks)
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr = err
		written  int
		appended bool
	)
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
	}
	if err == nil {
		for _, s := range segments {
			written += s.size
		}
		appended = w.cfg.Open != nil && written < w.cfg.AppendBelow
		if appended {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := w.cfg.Open.append(appendRecords(segments)); err != nil {
					fail(fmt.Errorf("open segment: %w", err))
				}
			}()
		} else {
			for _, s := range segments {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := w.create(ctx, s); err != nil {
						fail(err)
					}
				}()
			}
		}
		for _, p := range bt.procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := w.cfg.Store.Create(ctx, layout.ProcessKey(p.id), p.record, nil); err != nil {
					fail(fmt.Errorf("process record %s: %w", p.id, err))
				}
			}()
		}
		wg.Wait()
	}

	w.mu.Lock()
	for _, b := range bt.blocks {
		delete(w.pending, b.ID)
		if firstErr == nil {
			w.landed.add(b.ID)
		}
	}
	for _, p := range bt.procs {
		delete(w.procs, p.id)
		if firstErr == nil {
			w.stored.add(p.id)
		}
	}
	w.inFlight--
	w.mu.Unlock()
	bt.err = firstErr
	close(bt.done)
	w.signal()
	if w.cfg.OnFlush != nil {
		w.cfg.OnFlush(FlushStats{Blocks: len(bt.blocks), Segments: len(segments), Processes: len(bt.procs), Bytes: written, Appended: appended, Duration: time.Since(began), Err: firstErr})
	}
}

// encoded is one segment of a flush, as the parts that laid end to end make it (EncodeParts):
// the blocks' own bytes, not copied, and its index and trailer.
type encoded struct {
	signal  layout.Signal
	minTime uint64
	parts   [][]byte
	size    int
	idx     segment.Index
}

// encode groups blocks by signal and hour, in the order they came, and packs each group.
func encode(blocks []segment.Block) ([]encoded, error) {
	type group struct {
		dir    string
		signal layout.Signal
		min    uint64
		blocks []segment.Block
	}
	var groups []*group
	byDir := map[string]*group{}
	for _, b := range blocks {
		dir := layout.SegmentDir(b.Meta.Signal, b.Meta.MinTime)
		g := byDir[dir]
		if g == nil {
			g = &group{dir: dir, signal: b.Meta.Signal, min: b.Meta.MinTime}
			byDir[dir] = g
			groups = append(groups, g)
		}
		g.blocks = append(g.blocks, b)
	}
	slices.SortFunc(groups, func(a, b *group) int { return cmp.Compare(a.dir, b.dir) })
	out := make([]encoded, 0, len(groups))
	for _, g := range groups {
		parts, size, idx, err := segment.EncodeParts(g.signal, g.blocks)
		if err != nil {
			return nil, err
		}
		out = append(out, encoded{signal: g.signal, minTime: g.min, parts: parts, size: size, idx: idx})
	}
	return out, nil
}

// partsCreator is a store that writes an object from its parts without joining them (the file
// store's vectored write), so a big block goes from the request's bytes to the file uncopied.
type partsCreator interface {
	CreateParts(ctx context.Context, key string, parts [][]byte, meta map[string]string) (bool, error)
}

// create writes one segment as an object of its own, named by its hash.
func (w *Writer) create(ctx context.Context, s encoded) error {
	key := layout.SegmentKey(s.signal, s.minTime, segment.IDOfParts(s.parts))
	var meta map[string]string
	if w.cfg.SegmentMetadata {
		meta = s.idx.Meta()
	}
	var err error
	if pc, ok := w.cfg.Store.(partsCreator); ok {
		_, err = pc.CreateParts(ctx, key, s.parts, meta)
	} else {
		data := make([]byte, 0, s.size)
		for _, p := range s.parts {
			data = append(data, p...)
		}
		_, err = w.cfg.Store.Create(ctx, key, data, meta)
	}
	if err != nil {
		return fmt.Errorf("segment %s: %w", key, err)
	}
	return nil
}

// coalesceBelow is the size under which a flush's small buffers are copied into one before the
// vectored write: a copy of a few KiB costs less than an iovec of its own, and a flush of
// thousands of small blocks stays within one writev.
const coalesceBelow = 64 << 10

// appendRecords lays a flush's segments out as the records of an open segment (a header, then
// the segment), as buffers for one vectored write. Big blocks are passed by reference; runs of
// small buffers are copied together.
func appendRecords(segments []encoded) [][]byte {
	var (
		bufs  [][]byte
		small []byte
	)
	add := func(b []byte) {
		if len(b) >= coalesceBelow {
			if len(small) > 0 {
				bufs, small = append(bufs, small), nil
			}
			bufs = append(bufs, b)
			return
		}
		small = append(small, b...)
	}
	for _, s := range segments {
		add(segment.AppendRecordHeader(nil, s.size))
		for _, p := range s.parts {
			add(p)
		}
	}
	if len(small) > 0 {
		bufs = append(bufs, small)
	}
	return bufs
}

// Close flushes what is pending and stops the writer; later Writes fail with ErrClosed. It
// returns when the last flush is over, or with ctx's error.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.signal()
	select {
	case <-w.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// recentSet is a bounded set that forgets its oldest members first.
type recentSet struct {
	members map[layout.UUID]struct{}
	ring    []layout.UUID
	next    int
}

func newRecentSet(n int) *recentSet {
	return &recentSet{members: make(map[layout.UUID]struct{}, n), ring: make([]layout.UUID, 0, n)}
}

func (s *recentSet) has(id layout.UUID) bool {
	_, ok := s.members[id]
	return ok
}

func (s *recentSet) add(id layout.UUID) {
	if s.has(id) {
		return
	}
	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, id)
	} else {
		delete(s.members, s.ring[s.next])
		s.ring[s.next] = id
		s.next = (s.next + 1) % len(s.ring)
	}
	s.members[id] = struct{}{}
}
