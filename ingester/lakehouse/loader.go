//go:build cgo

package lakehouse

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/telemetrylake/telemetrylake/ingester/lakehouse/rows"
	"github.com/telemetrylake/telemetrylake/ingester/layout"
	"github.com/telemetrylake/telemetrylake/ingester/store"
)

// loader decodes blocks into DuckDB temp tables, one per lakehouse table. Materialization copies
// those tables into parts; a query reads them beside the parts as the not-yet-materialized rows.
type loader struct {
	e      *engine
	st     store.Store
	prefix string // of the temp tables' names
	// loaded lists, per table, the blocks whose rows went into its temp table.
	loaded  map[*rows.Table][]string
	rows    map[*rows.Table]int
	skipped []SkippedBlock
	blocks  int   // decoded
	bytes   int64 // of OTLP read
	// pending holds decoded rows until the next flush; procs holds processes until finish,
	// because a process seen in many blocks must become one row.
	pending rows.Batch
	procs   rows.Batch
}

// SkippedBlock is a block that could not be decoded, and why. It is never silently dropped: the
// summary and the query's warnings list it.
type SkippedBlock struct {
	Key    string
	Reason string
}

// flushRows bounds the rows a loader holds in Go before handing them to DuckDB.
const flushRows = 50_000

func newLoader(ctx context.Context, e *engine, st store.Store, prefix string) (*loader, error) {
	l := &loader{e: e, st: st, prefix: prefix, loaded: map[*rows.Table][]string{}, rows: map[*rows.Table]int{}}
	for _, t := range rows.Tables {
		if err := e.createTable(ctx, l.table(t), t); err != nil {
			return nil, fmt.Errorf("duckdb: %w", err)
		}
	}
	return l, nil
}

// table is the temp table that holds a lakehouse table's rows.
func (l *loader) table(t *rows.Table) string { return l.prefix + t.Name }

// load fetches and decodes blocks, a few at a time, and adds each block's rows to the tables that
// want them. want says whether a block's rows go to a table; a block no table wants is not read.
func (l *loader) load(ctx context.Context, refs []layout.BlockRef, want func(ref layout.BlockRef, t *rows.Table) bool) error {
	var todo []layout.BlockRef
	for _, ref := range refs {
		for _, t := range rows.Tables {
			if want(ref, t) {
				todo = append(todo, ref)
				break
			}
		}
	}
	if len(todo) == 0 {
		return nil
	}
	type result struct {
		ref   layout.BlockRef
		batch *rows.Batch
		size  int
		err   error // a store error; a corrupt block is a skip, not an error
		skip  string
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan layout.BlockRef)
	results := make(chan result)
	var wg sync.WaitGroup
	for range min(decodeWorkers(), len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ref := range next {
				r := result{ref: ref}
				data, _, err := l.st.Get(ctx, ref.Key)
				if err != nil {
					r.err = storeErr(fmt.Errorf("read block %s: %w", ref.Key, err))
				} else {
					r.size = len(data)
					r.batch = &rows.Batch{}
					if err := rows.Decode(rows.Block{Signal: ref.Signal, ID: ref.ID, Data: data}, r.batch); err != nil {
						r.skip = err.Error()
					}
				}
				select {
				case results <- r:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		defer close(next)
		for _, ref := range todo {
			select {
			case next <- ref:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	var firstErr error
	for r := range results {
		if firstErr != nil {
			continue // drain, so that the workers can stop
		}
		switch {
		case r.err != nil:
			firstErr = r.err
			cancel()
			continue
		case r.skip != "":
			l.skipped = append(l.skipped, SkippedBlock{Key: r.ref.Key, Reason: r.skip})
			continue
		}
		l.blocks++
		l.bytes += int64(r.size)
		for _, t := range rows.Tables {
			if !want(r.ref, t) {
				continue
			}
			if t == &rows.Processes {
				l.procs.Take(r.batch, t)
			} else {
				l.pending.Take(r.batch, t)
			}
			l.loaded[t] = append(l.loaded[t], r.ref.ID)
		}
		if l.pending.Rows(&rows.LogEntries)+l.pending.Rows(&rows.Measures)+l.pending.Rows(&rows.Spans) >= flushRows {
			if err := l.flush(); err != nil {
				firstErr = err
				cancel()
			}
		}
	}
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// flush hands the pending rows of the row tables to DuckDB.
func (l *loader) flush() error {
	for _, t := range []*rows.Table{&rows.LogEntries, &rows.Measures, &rows.Spans} {
		if err := l.e.appendRows(l.table(t), t, &l.pending); err != nil {
			return err
		}
		l.rows[t] += l.pending.Rows(t)
	}
	l.pending.Reset()
	return nil
}

// finish hands every remaining row to DuckDB; call it once, after the last load.
func (l *loader) finish() error {
	if err := l.flush(); err != nil {
		return err
	}
	if err := l.e.appendRows(l.table(&rows.Processes), &rows.Processes, &l.procs); err != nil {
		return err
	}
	l.rows[&rows.Processes] += l.procs.Rows(&rows.Processes)
	l.procs.Reset()
	return nil
}

func decodeWorkers() int { return max(2, runtime.GOMAXPROCS(0)) }
