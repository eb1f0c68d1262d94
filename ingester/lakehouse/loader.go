//go:build cgo

package lakehouse

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/telemetrylake/telemetrylake/ingester/lakehouse/rows"
	"github.com/telemetrylake/telemetrylake/ingester/layout"
	"github.com/telemetrylake/telemetrylake/ingester/store"
)

// loader decodes blocks into DuckDB temp tables, one per lakehouse table. Materialization copies
// those tables into parts; a query reads them beside the parts as the not-yet-materialized rows.
//
// Rows reach DuckDB in bulk: the decode workers render each block's rows as newline-delimited
// JSON, in parallel, the loader spools them to a file per table, and each flush loads a file with
// one read_json. Going through DuckDB's appender instead costs a cgo call per value, several per
// attribute, on one goroutine, and was most of a materialization's time. Processes, a handful of
// rows, still go through the appender, because a process seen in many blocks must become one row
// first.
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
	// spools hold the row tables' rows until the next flush; procs holds processes until finish.
	dir    string // of the spool files; made on first use
	spools map[*rows.Table]*spool
	procs  rows.Batch
}

// spool is one row table's rows, as JSON lines, waiting for the next flush.
type spool struct {
	file    *os.File
	w       *bufio.Writer
	rows    int
	bytes   int
	longest int // the longest line, which read_json must be told of
}

// SkippedBlock is a block that could not be decoded, and why. It is never silently dropped: the
// summary and the query's warnings list it.
type SkippedBlock struct {
	Key    string
	Reason string
}

// flushBytes is how much JSON a loader spools before loading it: big enough that each read_json
// keeps DuckDB's threads busy, small enough to bound the spool's disk.
const flushBytes = 128 << 20

// rowTables are the tables whose rows go through the spool.
var rowTables = []*rows.Table{&rows.LogEntries, &rows.Measures, &rows.Spans}

// newLoader creates the temp tables; call close when done with the loader.
func newLoader(ctx context.Context, e *engine, st store.Store, prefix string) (*loader, error) {
	l := &loader{e: e, st: st, prefix: prefix, loaded: map[*rows.Table][]string{}, rows: map[*rows.Table]int{}, spools: map[*rows.Table]*spool{}}
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
// The decode workers call want too, so it must be safe to call from several goroutines.
func (l *loader) load(ctx context.Context, refs []layout.BlockRef, want func(ref layout.BlockRef, t *rows.Table) bool) error {
	var pending []layout.BlockRef
	for _, ref := range refs {
		for _, t := range rows.Tables {
			if want(ref, t) {
				pending = append(pending, ref)
				break
			}
		}
	}
	if len(pending) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan layout.BlockRef)
	results := make(chan *decoded)
	var wg sync.WaitGroup
	for range min(decodeWorkers(), len(pending)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ref := range next {
				select {
				case results <- l.decode(ctx, ref, want):
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		defer close(next)
		for _, ref := range pending {
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
		if err := l.add(ctx, r, want); err != nil {
			firstErr = err
			cancel()
		}
	}
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// decoded is one block, read and decoded by a worker.
type decoded struct {
	ref  layout.BlockRef
	size int
	err  error  // a store error; a corrupt block is a skip, not an error
	skip string // why the block is skipped
	// procs holds the block's processes; its other rows are rendered, as JSON lines, into json,
	// for the tables that want them.
	procs   rows.Batch
	json    map[*rows.Table][]byte
	nrows   map[*rows.Table]int
	longest map[*rows.Table]int
}

// decode reads a block and renders its rows. It runs on the decode workers.
func (l *loader) decode(ctx context.Context, ref layout.BlockRef, want func(ref layout.BlockRef, t *rows.Table) bool) *decoded {
	d := &decoded{ref: ref}
	data, _, err := l.st.Get(ctx, ref.Key)
	if err != nil {
		d.err = storeErr(fmt.Errorf("read block %s: %w", ref.Key, err))
		return d
	}
	d.size = len(data)
	if err := rows.Decode(rows.Block{Signal: ref.Signal, ID: ref.ID, Data: data}, &d.procs); err != nil {
		d.skip = err.Error()
		return d
	}
	d.json, d.nrows, d.longest = map[*rows.Table][]byte{}, map[*rows.Table]int{}, map[*rows.Table]int{}
	for _, t := range rowTables {
		if n := d.procs.Rows(t); n > 0 && want(ref, t) {
			// JSON runs to three or four times the protobuf it came from; sizing the buffer once
			// spares growing it a row at a time.
			if d.json[t], d.longest[t], err = appendRowsJSON(make([]byte, 0, 4*len(data)), t, &d.procs); err != nil {
				d.skip = err.Error()
				return d
			}
			d.nrows[t] = n
		}
	}
	return d
}

// add takes a decoded block's rows into the tables that want them.
func (l *loader) add(ctx context.Context, d *decoded, want func(ref layout.BlockRef, t *rows.Table) bool) error {
	switch {
	case d.err != nil:
		return d.err
	case d.skip != "":
		l.skipped = append(l.skipped, SkippedBlock{Key: d.ref.Key, Reason: d.skip})
		return nil
	}
	l.blocks++
	l.bytes += int64(d.size)
	spooled := 0
	for _, t := range rows.Tables {
		if !want(d.ref, t) {
			continue
		}
		if t == &rows.Processes {
			l.procs.Take(&d.procs, t)
		} else if len(d.json[t]) > 0 {
			sp, err := l.spool(t)
			if err != nil {
				return err
			}
			if _, err := sp.w.Write(d.json[t]); err != nil {
				return fmt.Errorf("spool rows: %w", err)
			}
			sp.rows += d.nrows[t]
			sp.bytes += len(d.json[t])
			sp.longest = max(sp.longest, d.longest[t])
		}
		l.loaded[t] = append(l.loaded[t], d.ref.ID)
	}
	for _, sp := range l.spools {
		spooled += sp.bytes
	}
	if spooled >= flushBytes {
		return l.flush(ctx)
	}
	return nil
}

// spool returns a row table's spool, opening its file on first use.
func (l *loader) spool(t *rows.Table) (*spool, error) {
	if sp := l.spools[t]; sp != nil {
		return sp, nil
	}
	if l.dir == "" {
		dir, err := os.MkdirTemp("", "lakehouse-rows-")
		if err != nil {
			return nil, fmt.Errorf("spool rows: %w", err)
		}
		l.dir = dir
	}
	f, err := os.Create(filepath.Join(l.dir, l.table(t)+".jsonl"))
	if err != nil {
		return nil, fmt.Errorf("spool rows: %w", err)
	}
	sp := &spool{file: f, w: bufio.NewWriterSize(f, 1<<20)}
	l.spools[t] = sp
	return sp, nil
}

// flush loads the spooled rows into the temp tables, one read_json per table, and empties the
// spools.
func (l *loader) flush(ctx context.Context) error {
	for _, t := range rowTables {
		sp := l.spools[t]
		if sp == nil || sp.rows == 0 {
			continue
		}
		if err := sp.w.Flush(); err != nil {
			return fmt.Errorf("spool rows: %w", err)
		}
		if _, err := l.e.conn.ExecContext(ctx, readJSONSQL(l.table(t), t, sp.file.Name(), sp.longest)); err != nil {
			return fmt.Errorf("duckdb: load rows of %s: %w", t.Name, err)
		}
		l.rows[t] += sp.rows
		if err := sp.file.Truncate(0); err != nil {
			return fmt.Errorf("spool rows: %w", err)
		}
		if _, err := sp.file.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("spool rows: %w", err)
		}
		sp.w.Reset(sp.file)
		sp.rows, sp.bytes, sp.longest = 0, 0, 0
	}
	return nil
}

// finish hands every remaining row to DuckDB; call it once, after the last load.
func (l *loader) finish(ctx context.Context) error {
	if err := l.flush(ctx); err != nil {
		return err
	}
	if err := l.e.appendRows(l.table(&rows.Processes), &rows.Processes, &l.procs); err != nil {
		return err
	}
	l.rows[&rows.Processes] += l.procs.Rows(&rows.Processes)
	l.procs.Reset()
	return l.close()
}

// close removes the spool files; the temp tables stay.
func (l *loader) close() error {
	for t, sp := range l.spools {
		sp.file.Close()
		delete(l.spools, t)
	}
	if l.dir == "" {
		return nil
	}
	err := os.RemoveAll(l.dir)
	l.dir = ""
	return err
}

func decodeWorkers() int { return max(2, runtime.GOMAXPROCS(0)) }
