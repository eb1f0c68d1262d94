//go:build cgo

package lakehouse

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/telemetrylake/telemetrylake/lake/segment"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/lakehouse/rows"
)

// loader decodes blocks into rows and hands them, a few hundred megabytes at a time, to a sink:
// materialization writes them straight into parts, a query into temp tables beside the parts.
//
// Rows reach DuckDB as Arrow records: the decode workers build one per block and table, in
// parallel, and DuckDB scans them in place. Processes, a handful of rows, go in one record at the
// end, because a process seen in many blocks must become one row first.
type loader struct {
	st   store.Store
	sink rowSink
	// pending holds, per table, the rows not yet handed to the sink.
	pending      map[*rows.Table]*pendingRows
	pendingBytes int // of OTLP the pending rows came from
	procs        rows.Batch
	procBlocks   []string // the blocks whose processes are in procs
	skipped      []SkippedBlock
	blocks       int   // decoded
	bytes        int64 // of OTLP read
}

// rowSink takes a table's rows of some blocks: recs holds them, blockIDs lists every block they
// came from, including blocks that gave the table no row. It must not keep recs.
type rowSink func(ctx context.Context, t *rows.Table, recs []arrow.RecordBatch, blockIDs []string) error

// pendingRows are one table's rows waiting for the sink, with the block each record came from.
type pendingRows struct {
	recs     []arrow.RecordBatch
	recBlock []string
	blockIDs []string
}

// SkippedBlock is a block that could not be decoded, or a segment that is not intact, and why.
// It is never silently dropped: the summary and the query's warnings list it.
type SkippedBlock struct {
	// Key names the object: a block's key, a segment's key followed by " block <id>" for one
	// block of it, or a segment's key alone for the whole segment.
	Key    string
	Reason string
}

// flushBytes is how much OTLP a loader decodes before handing the rows to its sink: enough for
// DuckDB to work on in bulk, little enough to bound memory (Arrow rows take a few times the
// OTLP they came from).
const flushBytes = 64 << 20

// rowTables are the tables whose rows are handed over as they are decoded.
var rowTables = []*rows.Table{&rows.LogEntries, &rows.Measures, &rows.Spans}

// newLoader makes a loader that hands rows to sink.
func newLoader(st store.Store, sink rowSink) *loader {
	return &loader{st: st, sink: sink, pending: map[*rows.Table]*pendingRows{}}
}

// load fetches and decodes blocks, a few at a time, and adds each block's rows to the tables that
// want them. want says whether a block's rows go to a table; a block no table wants is not read.
// The decode workers call want too, so it must be safe to call from several goroutines.
//
// A segment is fetched once for all its blocks that are wanted, and checked whole before any of
// them is decoded.
func (l *loader) load(ctx context.Context, refs []blockRef, want func(ref blockRef, t *rows.Table) bool) error {
	var pending []fetch
	inSegment := map[*segmentFile]int{} // place in pending
	for _, ref := range refs {
		if !slices.ContainsFunc(rows.Tables, func(t *rows.Table) bool { return want(ref, t) }) {
			continue
		}
		if ref.seg == nil {
			pending = append(pending, fetch{refs: []blockRef{ref}})
			continue
		}
		i, ok := inSegment[ref.seg]
		if !ok {
			i = len(pending)
			inSegment[ref.seg] = i
			pending = append(pending, fetch{seg: ref.seg})
		}
		pending[i].refs = append(pending[i].refs, ref)
	}
	if len(pending) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		seq int
		f   fetch
	}
	type result struct {
		seq int
		ds  []*decoded
	}
	workers := min(decodeWorkers(), len(pending))
	// Blocks are added in the order given, whatever order they decode in, so that the same blocks
	// always reach the sink in the same batches. Dispatching waits while too many fetched objects
	// wait for one still decoding, which bounds the memory they hold.
	window := make(chan struct{}, 2*workers)
	next := make(chan job)
	results := make(chan result)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				select {
				case results <- result{j.seq, l.decodeFetch(ctx, j.f, want)}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		defer close(next)
		for seq, f := range pending {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case next <- job{seq, f}:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	var firstErr error
	waiting := map[int][]*decoded{}
	added := 0
	release := func(ds []*decoded) {
		for _, d := range ds {
			d.release()
		}
	}
	for r := range results {
		if firstErr != nil {
			release(r.ds)
			continue // drain, so that the workers can stop
		}
		waiting[r.seq] = r.ds
		for ds, ok := waiting[added]; ok; ds, ok = waiting[added] {
			delete(waiting, added)
			added++
			<-window
			for i, d := range ds {
				if err := l.add(ctx, d, want); err != nil {
					release(ds[i+1:])
					firstErr = err
					cancel()
					break
				}
			}
			if firstErr != nil {
				break
			}
		}
	}
	for _, ds := range waiting {
		release(ds)
	}
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// fetch is one object to read: a standalone block, or a segment and those of its blocks that are
// wanted.
type fetch struct {
	seg  *segmentFile // nil for a standalone block
	refs []blockRef
}

// decoded is one block, read and decoded by a worker.
type decoded struct {
	ref  blockRef
	size int
	err  error  // a store error; a corrupt block is a skip, not an error
	skip string // why the block is skipped
	// procs holds the block's processes; its other rows are in recs, for the tables that want
	// them.
	procs rows.Batch
	recs  map[*rows.Table]arrow.RecordBatch
}

// decodeFetch reads an object and decodes its wanted blocks. It runs on the decode workers.
func (l *loader) decodeFetch(ctx context.Context, f fetch, want func(ref blockRef, t *rows.Table) bool) []*decoded {
	ds := make([]*decoded, len(f.refs))
	for i, ref := range f.refs {
		ds[i] = &decoded{ref: ref}
	}
	var data []byte
	var err error
	if f.seg != nil && f.seg.open {
		data, _, err = l.st.GetRange(ctx, f.refs[0].Key, f.seg.base, f.seg.length)
	} else {
		data, _, err = l.st.Get(ctx, f.refs[0].Key)
	}
	if err != nil {
		what := "block"
		if f.seg != nil {
			what = "segment"
		}
		err = storeErr(fmt.Errorf("read %s %s: %w", what, f.refs[0].Key, err))
		for _, d := range ds {
			d.err = err
		}
		return ds
	}
	if f.seg == nil {
		ds[0].decode(data, want)
		return ds
	}
	// The catalog checked the segment's index when it listed it; every block's checksum is
	// checked here, before any block of it is decoded, so that no block is ever read from a
	// segment that is not whole.
	idx, err := segment.Decode(data)
	if err != nil && !segment.IsCorrupt(err) {
		err = storeErr(fmt.Errorf("read segment %s: %w", f.refs[0].Key, err))
	} else if err != nil {
		err = &corruptSegmentError{key: f.refs[0].Key, reason: err.Error()}
	}
	for _, d := range ds {
		switch {
		case err != nil:
			d.err = err
		case f.seg.place(d.ref.entry) >= len(idx.Entries) || idx.Entries[f.seg.place(d.ref.entry)].ID.String() != d.ref.ID:
			d.skip = "segment " + d.ref.Key + " changed since it was listed"
		default:
			b, _ := idx.Block(data, f.seg.place(d.ref.entry)) // checked by Decode
			d.decode(b, want)
		}
	}
	return ds
}

// decode builds a block's rows from its bytes.
func (d *decoded) decode(data []byte, want func(ref blockRef, t *rows.Table) bool) {
	ref := d.ref
	d.size = len(data)
	if err := rows.Decode(rows.Block{Signal: ref.Signal, ID: ref.ID, Data: data}, &d.procs); err != nil {
		d.skip = err.Error()
		return
	}
	d.procs.SortByTime()
	d.recs = map[*rows.Table]arrow.RecordBatch{}
	for _, t := range rowTables {
		if d.procs.Rows(t) > 0 && want(ref, t) {
			var err error
			if d.recs[t], err = arrowRecord(t, &d.procs); err != nil {
				d.release()
				d.skip = err.Error()
				return
			}
		}
	}
}

func (d *decoded) release() {
	for _, r := range d.recs {
		r.Release()
	}
	d.recs = nil
}

// add takes a decoded block's rows into the tables that want them.
func (l *loader) add(ctx context.Context, d *decoded, want func(ref blockRef, t *rows.Table) bool) error {
	switch {
	case d.err != nil:
		return d.err
	case d.skip != "":
		l.skipped = append(l.skipped, SkippedBlock{Key: d.ref.name(), Reason: d.skip})
		return nil
	}
	l.blocks++
	l.bytes += int64(d.size)
	for _, t := range rows.Tables {
		if !want(d.ref, t) {
			continue
		}
		if t == &rows.Processes {
			l.procs.Take(&d.procs, t)
			l.procBlocks = append(l.procBlocks, d.ref.ID)
			continue
		}
		p := l.pending[t]
		if p == nil {
			p = &pendingRows{}
			l.pending[t] = p
		}
		if rec := d.recs[t]; rec != nil {
			p.recs = append(p.recs, rec)
			p.recBlock = append(p.recBlock, d.ref.ID)
			delete(d.recs, t)
		}
		p.blockIDs = append(p.blockIDs, d.ref.ID)
	}
	d.release() // records of tables that did not want them
	if l.pendingBytes += d.size; l.pendingBytes >= flushBytes {
		return l.flush(ctx)
	}
	return nil
}

// flush hands the pending rows to the sink, each table's in block order, so that the same blocks
// always reach it the same way whatever order they decoded in.
func (l *loader) flush(ctx context.Context) error {
	for _, t := range rowTables {
		p := l.pending[t]
		if p == nil {
			continue
		}
		delete(l.pending, t)
		order := make([]int, len(p.recs))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return strings.Compare(p.recBlock[a], p.recBlock[b]) })
		recs := make([]arrow.RecordBatch, len(order))
		for i, j := range order {
			recs[i] = p.recs[j]
		}
		slices.Sort(p.blockIDs)
		err := l.sink(ctx, t, recs, p.blockIDs)
		for _, r := range recs {
			r.Release()
		}
		if err != nil {
			return err
		}
	}
	l.pendingBytes = 0
	return nil
}

// finish hands every remaining row to the sink, processes last; call it once, after the last
// load.
func (l *loader) finish(ctx context.Context) error {
	if err := l.flush(ctx); err != nil {
		return err
	}
	if len(l.procBlocks) == 0 {
		return nil
	}
	l.procs.SortByTime()
	rec, err := arrowRecord(&rows.Processes, &l.procs)
	if err != nil {
		return err
	}
	defer rec.Release()
	slices.Sort(l.procBlocks)
	err = l.sink(ctx, &rows.Processes, []arrow.RecordBatch{rec}, l.procBlocks)
	l.procs.Reset()
	l.procBlocks = nil
	return err
}

// close releases the rows that never reached the sink, after an error.
func (l *loader) close() {
	for t, p := range l.pending {
		for _, r := range p.recs {
			r.Release()
		}
		delete(l.pending, t)
	}
}

func decodeWorkers() int { return max(2, runtime.GOMAXPROCS(0)) }
