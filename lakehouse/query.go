//go:build cgo

package lakehouse

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/lakehouse/parts"
	"github.com/telemetrylake/telemetrylake/lakehouse/rows"
)

// QueryOptions say what a query sees.
type QueryOptions struct {
	Store  store.Store
	Window parts.Window
	// CacheDir keeps local copies of parts (see partCache); "" is DefaultCacheDir().
	CacheDir string
	// CacheMaxBytes bounds the cache; 0 is DefaultCacheMaxBytes.
	CacheMaxBytes int64
}

// SQLError is DuckDB refusing or failing the user's statement: the command line prints its message
// and exits with status 2.
type SQLError struct{ Err error }

func (e *SQLError) Error() string { return e.Err.Error() }
func (e *SQLError) Unwrap() error { return e.Err }

// Session is an engine whose views show the window's rows, each block's once.
type Session struct {
	e *engine
	// Warnings name the blocks and parts that were left out, and why.
	Warnings []string
	// Stats says where the rows came from.
	Stats SessionStats
}

// SessionStats counts what a session read.
type SessionStats struct {
	Parts         int // read, whole or in part
	PartsSkipped  int // every block already read from a bigger part
	FreshBlocks   int // decoded on the fly: no part covers them yet
	SkippedBlocks int
	// SkippedSegments counts the segments left out whole because they are not intact.
	SkippedSegments int
	// Replans counts the plans thrown away because an object listed was gone when read: a
	// compaction replaced a part meanwhile.
	Replans int
}

// lookback widens the window for listing: a block is dated by its earliest record, so a block
// that starts in the hour before the window can hold rows inside it. An hour covers every batch
// an SDK or Collector sends; rows of a block that spans longer may be missed at the window's start.
const lookback = time.Hour

// Open lists the window's blocks and parts, caches the parts, decodes the blocks that no part
// covers, and defines the views log_entries, measures, otel_spans and processes. Row views keep
// the rows whose time is in the window, and the rows that have no time at all.
//
// A part listed can be gone by the time it is read, deleted by a compaction that replaced it by a
// bigger one. Skipping it would still count every block once (blocks are never deleted, so its
// blocks would be decoded instead), but would decode what the bigger part holds; so Open lists
// and plans again, a few times, and fails rather than answer from a plan it could not read.
func Open(ctx context.Context, opts QueryOptions) (*Session, error) {
	bad := badSegments{}
	for plan := 0; ; plan++ {
		s, err := openPlan(ctx, opts, bad)
		switch {
		case err == nil:
			s.Stats.Replans = plan
			return s, nil
		case bad.learn(err):
			// A segment listed as intact was not: list again without it. Each time leaves one
			// more segment out, so this ends.
			plan--
			continue
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		case plan+1 == maxPlans:
			// %v, not %w: the store is reachable, and the command line must not say otherwise.
			return nil, fmt.Errorf("objects kept vanishing between listing the store and reading them, %d plans in a row "+
				"(is a compaction running in a loop?); no answer rather than a partial one. Last: %v", maxPlans, err)
		}
		// A compaction deletes its replaced parts one after the other; give it a moment.
		select {
		case <-time.After(time.Duration(plan+1) * 100 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// maxPlans bounds how many times a reader lists and plans afresh because a part it listed was
// replaced before it could read it.
const maxPlans = 5

// openPlan lists the store once and defines the views from that listing.
func openPlan(ctx context.Context, opts QueryOptions, bad badSegments) (*Session, error) {
	listed := parts.Window{Since: opts.Window.Since.Add(-lookback), Until: opts.Window.Until}
	cat, err := scanStore(ctx, opts.Store, listed, true, bad)
	if err != nil {
		return nil, err
	}
	e, err := openEngine(ctx)
	if err != nil {
		return nil, err
	}
	s := &Session{e: e}
	if err := s.define(ctx, opts, cat); err != nil {
		e.Close()
		return nil, err
	}
	return s, nil
}

func (s *Session) Close() error { return s.e.Close() }

func (s *Session) define(ctx context.Context, opts QueryOptions, cat *catalog) error {
	var refs []layout.PartRef
	for _, t := range rows.Tables {
		refs = append(refs, cat.parts[t.Name]...)
	}
	cache := newPartCache(opts.CacheDir, opts.CacheMaxBytes)
	good, local, bad, err := loadParts(ctx, s.e, opts.Store, cache, refs)
	if err != nil {
		return err
	}
	for _, b := range bad {
		s.Warnings = append(s.Warnings, fmt.Sprintf("part %s left out: %s; its blocks are decoded instead", b.Key, b.Reason))
	}
	chosen := map[*rows.Table][]parts.Selection{}
	covered := map[*rows.Table]map[string]bool{}
	for _, t := range rows.Tables {
		var candidates []parts.Part
		for _, p := range good {
			if p.Table == t.Name {
				candidates = append(candidates, p)
			}
		}
		chosen[t], covered[t] = parts.Choose(candidates)
		s.Stats.Parts += len(chosen[t])
		s.Stats.PartsSkipped += len(candidates) - len(chosen[t])
	}

	// Blocks no part covers yet are decoded now, into the fresh tables, made for the tables that
	// get rows.
	fresh := map[*rows.Table]string{}
	l := newLoader(opts.Store, func(ctx context.Context, t *rows.Table, recs []arrow.RecordBatch, _ []string) error {
		if _, ok := fresh[t]; !ok {
			fresh[t] = "_fresh_" + t.Name
			if err := s.e.createTable(ctx, fresh[t], t); err != nil {
				return fmt.Errorf("duckdb: %w", err)
			}
		}
		const view = "_fresh_rows"
		return s.e.execOverArrow(ctx, view, t, recs, fmt.Sprintf("INSERT INTO %s BY NAME SELECT * FROM %s", ident(fresh[t]), view))
	})
	defer l.close()
	var all []blockRef
	for _, hour := range cat.hours() {
		for _, sig := range layout.Signals {
			all = append(all, cat.blocks[hour][sig]...)
		}
	}
	for _, sig := range layout.Signals {
		all = append(all, cat.undated[sig]...)
	}
	err = l.load(ctx, all, func(ref blockRef, t *rows.Table) bool {
		return (t == &rows.Processes || rows.TableOf(ref.Signal) == t) && !covered[t][ref.ID]
	})
	if err == nil {
		err = l.finish(ctx)
	}
	if err != nil {
		return err
	}
	s.Stats.FreshBlocks = l.blocks
	s.Stats.SkippedBlocks = len(l.skipped)
	for _, b := range l.skipped {
		s.Warnings = append(s.Warnings, fmt.Sprintf("block %s skipped: %s", b.Key, b.Reason))
	}
	s.Stats.SkippedSegments = len(cat.badSegments)
	for _, b := range cat.badSegments {
		s.Warnings = append(s.Warnings, fmt.Sprintf("segment %s skipped, every block in it: %s", b.Key, b.Reason))
	}

	for _, t := range rows.Tables {
		q := viewSQL(t, fresh[t], chosen[t], local, opts.Window)
		if err := s.e.exec(ctx, q); err != nil {
			return fmt.Errorf("duckdb: define view %s: %w", t.Name, err)
		}
	}
	return nil
}

// viewSQL defines a table's view: its fresh rows (from the temp table fresh; "" when there are
// none), then the chosen parts (whole, or filtered to the blocks no bigger part holds). The fresh
// rows come first, or an empty relation of the table's columns, so that the view's columns are
// the current ones even when old parts lack a newer column.
//
// Rows are kept when their time is in the window, or when they have none. That filter is most of
// what a simple query over compacted parts costs, so it is applied only where it can drop a row:
// to the fresh rows, and to the parts whose recorded time span is not inside the window.
func viewSQL(t *rows.Table, fresh string, chosen []parts.Selection, local map[string]string, w parts.Window) string {
	var inWindow string
	if t.TimeColumn != "" {
		c := ident(t.TimeColumn)
		inWindow = fmt.Sprintf("(%s IS NULL OR (%s >= %s AND %s < %s))", c, c, tsLiteral(w.Since), c, tsLiteral(w.Until))
	}
	rowFilter := func(p parts.Part) string {
		if p.Times.Within(w) {
			return ""
		}
		return inWindow
	}
	first := emptyRelationSQL(t)
	if fresh != "" {
		first = where("SELECT * FROM "+ident(fresh), inWindow)
	}
	sources := append([]string{first}, selectionsSQL(chosen, local, rowFilter)...)
	body := strings.Join(sources, "\nUNION ALL BY NAME\n")
	var qualify string
	if t == &rows.Processes {
		qualify = processesFilter
	}
	return fmt.Sprintf("CREATE OR REPLACE TEMP VIEW %s AS SELECT * FROM (\n%s\n) %s", ident(t.Name), body, qualify)
}

// emptyRelationSQL selects no row, with the table's columns.
func emptyRelationSQL(t *rows.Table) string {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = fmt.Sprintf("NULL::%s AS %s", c.Type, ident(c.Name))
	}
	return fmt.Sprintf("SELECT * FROM (SELECT %s) WHERE false", strings.Join(cols, ", "))
}

// processesFilter keeps one row per process: a process is seen in many blocks and parts, and its
// row is its earliest sighting.
const processesFilter = "QUALIFY row_number() OVER (PARTITION BY process_id ORDER BY first_seen NULLS LAST, block_id) = 1"

// selectionsSQL reads the chosen parts' local copies: the parts read whole in one scan per row
// filter, each part read for some of its blocks in one of its own. rowFilter gives the condition
// a part's rows must also meet, "" for none; nil is none for every part. The statements are to
// be joined by UNION ALL BY NAME.
//
// One scan reads many parts without union_by_name, which would read every file's schema to
// define the view (3 ms against 0.8 ms for 50 parts, measured here): the parts a reader accepts
// are all of parts.FormatV1, whose columns are rows.Tables' by definition.
func selectionsSQL(chosen []parts.Selection, local map[string]string, rowFilter func(parts.Part) string) []string {
	var sources []string
	whole := map[string][]string{} // files by row filter
	var filters []string           // whole's keys, in the order first met, for a stable view
	for _, sel := range chosen {
		file := local[sel.Part.Key]
		var filter string
		if rowFilter != nil {
			filter = rowFilter(sel.Part)
		}
		if sel.Only == nil {
			if _, ok := whole[filter]; !ok {
				filters = append(filters, filter)
			}
			whole[filter] = append(whole[filter], file)
			continue
		}
		ids := make([]string, len(sel.Only))
		for i, id := range sel.Only {
			ids[i] = quote(id)
		}
		inBlocks := fmt.Sprintf("block_id IN (%s)", strings.Join(ids, ", "))
		if filter != "" {
			inBlocks += " AND " + filter
		}
		sources = append(sources, where(fmt.Sprintf("SELECT * FROM read_parquet(%s, hive_partitioning = false)", quote(file)), inBlocks))
	}
	for _, filter := range filters {
		sources = append(sources, where(fmt.Sprintf("SELECT * FROM read_parquet(%s, hive_partitioning = false)", fileList(whole[filter])), filter))
	}
	return sources
}

// where adds a condition to a SELECT that has none; "" adds nothing.
func where(selectSQL, condition string) string {
	if condition == "" {
		return selectSQL
	}
	return selectSQL + " WHERE " + condition
}

func tsLiteral(t time.Time) string {
	return "TIMESTAMP_NS " + quote(t.UTC().Format("2006-01-02 15:04:05.999999999"))
}

// Query runs a statement over the session's views.
func (s *Session) Query(ctx context.Context, query string) (*sql.Rows, error) {
	if err := s.e.defineMacrosFor(ctx, query); err != nil {
		return nil, err
	}
	rs, err := s.e.conn.QueryContext(ctx, query)
	if err != nil {
		return nil, &SQLError{Err: err}
	}
	return rs, nil
}

// sandbox closes the session to everything but its own views before it runs a statement from a
// client that holds no more than a query token: files outside the part cache, extensions, and
// settings, which lock_configuration then freezes. The views read only the cache's parts and
// the fresh rows in memory.
func (s *Session) sandbox(ctx context.Context, cacheDir string) error {
	for _, stmt := range []string{
		fmt.Sprintf(`SET allowed_directories = [%s]`, quote(filepath.Clean(cacheDir)+string(filepath.Separator))),
		`SET enable_external_access = false`,
		`SET autoload_known_extensions = false`,
		`SET lock_configuration = true`,
	} {
		if err := s.e.exec(ctx, stmt); err != nil {
			return fmt.Errorf("duckdb: %s: %w", stmt, err)
		}
	}
	return nil
}
