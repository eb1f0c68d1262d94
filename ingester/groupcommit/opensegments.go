package groupcommit

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/segment"
	"github.com/telemetrylake/telemetrylake/lake/store"
)

// Defaults of the open segments, reasoned in the storage contract (§5.7).
const (
	// DefaultSealBytes seals an open segment once it holds this much. A seal holds the file and
	// the segments it makes in memory at once, so the bound is the seal's memory: measured with
	// make bench (5 KiB bodies, c=32), sealing at 16 MiB took the ingester's peak RSS from 41 MiB
	// (a file per segment) to 106 MiB. Readers read an open segment whole, too.
	DefaultSealBytes = 4 << 20
	// DefaultAppendBelow is the size from which a flush is written as segments of their own even
	// with open segments: appending it would write its bytes twice (again at the seal), which
	// for a flush this big costs more than the second barrier saved. Measured with make bench
	// (1 MiB bodies, c=4): every flush appended gave 0.73x the rate of a file per segment.
	DefaultAppendBelow = 1 << 20
	// DefaultSealAge seals an open segment this long after it was created, however little it
	// holds, so that a quiet ingester's blocks reach ordinary segments (which compaction merges
	// and every older reader reads) within a minute.
	DefaultSealAge = time.Minute
	// sealTimeout bounds one seal's store writes; a seal that fails is tried again.
	sealTimeout = time.Minute
)

// OpenConfig says how a file store's open segments are kept. Zero fields take the defaults.
type OpenConfig struct {
	Store *store.FileStore
	// SealBytes seals the open segment once it holds this many bytes.
	SealBytes int64
	// SealAge seals the open segment this long after it was created.
	SealAge time.Duration
	// OnSeal, if set, is told about every seal once it is over, and about every seal that
	// failed (it is tried again).
	OnSeal func(SealStats)
}

// SealStats describes one seal, for metrics and logs.
type SealStats struct {
	// Key is the open segment sealed.
	Key string
	// Recovered is set for an open segment that a writer now gone left behind.
	Recovered bool
	// Segments and Blocks are what the seal wrote; Bytes is the open segment's size.
	Segments, Blocks int
	Bytes            int64
	// TornBytes were cut after the last whole record, and Torn says why; only a crash (or damage)
	// leaves any, and none of them had been acknowledged.
	TornBytes int64
	Torn      string
	Duration  time.Duration
	Err       error
}

// OpenSegments makes a flush durable on a file store with one barrier: the flush's segments are
// appended as records to the process's open segment, with one fdatasync, instead of each being
// written to a file of its own (an fdatasync and a directory fsync). An open segment is sealed,
// once it is big or old enough, into ordinary segments (one per signal and hour, named by their
// hash, create-only) that are durable before the open segment is removed; readers read open
// segments too, so a block is readable from the moment it is acknowledged. A process starting up
// seals the open segments of processes that are gone, up to their last whole record.
type OpenSegments struct {
	cfg    OpenConfig
	writer string // this process's name for its open segments

	mu     sync.Mutex // held across an append, so appends and rotation are serial
	cur    *store.AppendFile
	opened time.Time
	seq    int

	sealBuf []byte // the sealer's read buffer; only run's goroutine uses it

	sealMu  sync.Mutex
	toSeal  []sealJob // oldest first
	sealing int       // jobs taken but not over
	wake    chan struct{}
	closed  chan struct{}
	stopped chan struct{}
}

type sealJob struct {
	f         *store.AppendFile
	recovered bool
}

// NewOpenSegments starts keeping open segments on cfg.Store, and starts sealing, in the
// background, those that processes now gone left behind.
func NewOpenSegments(cfg OpenConfig) *OpenSegments {
	if cfg.SealBytes <= 0 {
		cfg.SealBytes = DefaultSealBytes
	}
	if cfg.SealAge <= 0 {
		cfg.SealAge = DefaultSealAge
	}
	var id [8]byte
	rand.Read(id[:])
	o := &OpenSegments{
		cfg: cfg, writer: hex.EncodeToString(id[:]),
		wake: make(chan struct{}, 1), closed: make(chan struct{}), stopped: make(chan struct{}),
	}
	go o.run()
	return o
}

// OpenFiles is how many open segments this process has: the one appended to and those waiting
// to be sealed.
func (o *OpenSegments) OpenFiles() int {
	o.mu.Lock()
	n := 0
	if o.cur != nil {
		n = 1
	}
	o.mu.Unlock()
	o.sealMu.Lock()
	n += len(o.toSeal) + o.sealing
	o.sealMu.Unlock()
	return n
}

// append writes a flush's records (each a record header and a segment's parts) to the open
// segment and returns once they are durable.
func (o *OpenSegments) append(bufs [][]byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	select {
	case <-o.closed:
		return ErrClosed
	default:
	}
	if o.cur == nil {
		f, err := o.cfg.Store.CreateAppendFile(layout.OpenSegmentKey(o.writer, o.seq))
		if err != nil {
			return err
		}
		o.seq++
		o.cur, o.opened = f, time.Now()
	}
	err := o.cur.Append(bufs)
	// A failed append leaves the file's end unknown: it is sealed up to its last whole record,
	// and the next flush starts another.
	if err != nil || o.cur.Size() >= o.cfg.SealBytes {
		o.retireLocked()
	}
	return err
}

// retireLocked hands the open segment to the sealer. The caller holds mu.
func (o *OpenSegments) retireLocked() {
	if o.cur == nil {
		return
	}
	o.queue(sealJob{f: o.cur})
	o.cur = nil
}

func (o *OpenSegments) queue(j sealJob) {
	o.sealMu.Lock()
	o.toSeal = append(o.toSeal, j)
	o.sealMu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// run recovers what processes now gone left, then seals open segments as they are retired, and
// retires the open segment once it is SealAge old. A seal that fails stays queued and is tried
// again on the next tick.
func (o *OpenSegments) run() {
	defer close(o.stopped)
	o.recover()
	tick := time.NewTicker(min(o.cfg.SealAge/4, time.Second))
	defer tick.Stop()
	for {
		o.sealQueued()
		select {
		case <-o.wake:
		case <-tick.C:
			o.mu.Lock()
			if o.cur != nil && time.Since(o.opened) >= o.cfg.SealAge {
				o.retireLocked()
			}
			o.mu.Unlock()
		case <-o.closed:
			// Close retired the open segment; what fails now is the next process's to recover.
			o.sealQueued()
			return
		}
	}
}

// sealQueued tries once to seal every open segment queued; those that fail stay queued.
func (o *OpenSegments) sealQueued() {
	o.sealMu.Lock()
	jobs := o.toSeal
	o.toSeal = nil
	o.sealing = len(jobs)
	o.sealMu.Unlock()
	for _, j := range jobs {
		err := o.seal(j)
		o.sealMu.Lock()
		if err != nil {
			o.toSeal = append(o.toSeal, j)
		}
		o.sealing--
		o.sealMu.Unlock()
	}
}

// recover takes over the open segments whose writers are gone (their lock is free) and queues
// them to be sealed.
func (o *OpenSegments) recover() {
	ctx, cancel := context.WithTimeout(context.Background(), sealTimeout)
	defer cancel()
	var keys []string
	err := o.cfg.Store.List(ctx, layout.OpenSegmentListPrefix(), func(key string) error {
		if layout.IsOpenSegmentKey(key) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		o.report(SealStats{Key: layout.OpenSegmentListPrefix(), Recovered: true, Err: fmt.Errorf("list open segments: %w", err)})
		return
	}
	slices.Sort(keys)
	for _, key := range keys {
		f, ok, err := o.cfg.Store.TakeOverAppendFile(key)
		switch {
		case err != nil:
			o.report(SealStats{Key: key, Recovered: true, Err: err})
		case ok:
			o.sealMu.Lock()
			o.toSeal = append(o.toSeal, sealJob{f: f, recovered: true})
			o.sealMu.Unlock()
		}
	}
}

// seal writes an open segment's whole records as ordinary segments, one per signal and hour,
// each durable, and only then removes the open segment and lets go of it. The segments are
// named by their hash, so a seal cut short by a crash and done again by the next process writes
// the same names (duplicates) and loses or doubles nothing.
func (o *OpenSegments) seal(j sealJob) error {
	began := time.Now()
	stats := SealStats{Key: j.f.Key(), Recovered: j.recovered}
	err := o.sealFile(j.f, &stats)
	stats.Duration, stats.Err = time.Since(began), err
	o.report(stats)
	if err == nil {
		j.f.Close()
	}
	return err
}

func (o *OpenSegments) sealFile(f *store.AppendFile, stats *SealStats) error {
	ctx, cancel := context.WithTimeout(context.Background(), sealTimeout)
	defer cancel()
	// One buffer, kept across seals: a seal a second at full load would otherwise leave a few
	// MiB of garbage each time, and the heap grows by what the collector has not reclaimed yet.
	data, err := f.ReadAll(o.sealBuf)
	if err != nil {
		return err
	}
	o.sealBuf = data[:0]
	stats.Bytes = int64(len(data))
	records, end, torn := segment.ScanOpen(data)
	stats.TornBytes, stats.Torn = int64(len(data))-end, torn
	for _, g := range groupRecords(records, data) {
		// The blocks go from the bytes read straight to the file, never copied into a segment.
		parts, _, _, err := segment.EncodeParts(g.signal, g.blocks)
		if err != nil {
			return err
		}
		key := layout.SegmentKey(g.signal, g.blocks[0].Meta.MinTime, segment.IDOfParts(parts))
		if _, err := o.cfg.Store.CreateParts(ctx, key, parts, nil); err != nil {
			return fmt.Errorf("seal %s into %s: %w", f.Key(), key, err)
		}
		stats.Segments++
		stats.Blocks += len(g.blocks)
	}
	if err := o.cfg.Store.Delete(ctx, f.Key()); err != nil {
		return fmt.Errorf("seal %s: remove it: %w", f.Key(), err)
	}
	return nil
}

type sealGroup struct {
	dir    string
	signal layout.Signal
	blocks []segment.Block
}

// groupRecords gathers the records' blocks by signal and hour, in the order they were appended,
// each block id once: the segments a seal writes. The blocks' bytes are data's, checked by
// ScanOpen.
func groupRecords(records []segment.Record, data []byte) []*sealGroup {
	byDir := map[string]*sealGroup{}
	var groups []*sealGroup
	seen := map[layout.UUID]bool{}
	for _, r := range records {
		for i, e := range r.Index.Entries {
			if seen[e.ID] {
				continue
			}
			seen[e.ID] = true
			b, _ := r.Block(data, i) // checked by ScanOpen
			dir := layout.SegmentDir(r.Index.Signal, e.MinTime)
			g := byDir[dir]
			if g == nil {
				g = &sealGroup{dir: dir, signal: r.Index.Signal}
				byDir[dir] = g
				groups = append(groups, g)
			}
			g.blocks = append(g.blocks, segment.Block{ID: e.ID, Meta: e.Meta(r.Index.Signal), Bytes: b})
		}
	}
	slices.SortFunc(groups, func(a, b *sealGroup) int { return cmp.Compare(a.dir, b.dir) })
	return groups
}

func (o *OpenSegments) report(s SealStats) {
	if o.cfg.OnSeal != nil {
		o.cfg.OnSeal(s)
	}
}

// Close seals the open segment and every one waiting, and stops; call it after the Writer's
// Close, so that no flush appends any more. A seal that cannot finish by ctx's end is left for the
// next process to recover: nothing in it is lost, since readers read open segments.
func (o *OpenSegments) Close(ctx context.Context) error {
	o.mu.Lock()
	select {
	case <-o.closed:
	default:
		close(o.closed)
	}
	o.retireLocked()
	o.mu.Unlock()
	select {
	case <-o.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
