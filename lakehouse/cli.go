//go:build cgo

package lakehouse

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/lakehouse/parts"
)

// Exit statuses of the command line, part of its contract (docs/contracts/lakehouse.md §3).
const (
	ExitOK          = 0
	ExitUsage       = 1 // bad flags, or any failure not listed below
	ExitBadSQL      = 2 // DuckDB refused or failed the statement; its message is printed
	ExitUnreachable = 3 // the store could not be listed or read
)

// Usage is the command line's help.
const Usage = `usage:
  lakehouse sql --storage URL [--since T] [--until T] [--format table|csv|json] [--cache DIR] [--cache-max-bytes N] "SQL"
  lakehouse materialize --storage URL [--since T] [--until T] [--cache DIR] [--cache-max-bytes N] [--compact]
  lakehouse compact --storage URL [--since T] [--until T] [--cache DIR] [--cache-max-bytes N] [--min-parts N] [--grace D]
  lakehouse ddl --engine athena|hive|trino --location s3://BUCKET/PREFIX [--schema NAME]
  lakehouse serve --storage URL --listen ADDR (--token-file FILE | --allow-anonymous) [--tls-cert F --tls-key F]
                  [--cache DIR] [--cache-max-bytes N] [--default-window D] [--max-window D] [--max-rows N]
                  [--max-result-bytes N] [--statement-timeout D] [--max-concurrent-queries N] [--queue-timeout D]
                  [--max-connections N] [--admin-listen ADDR]

T is RFC 3339 (2026-01-02T15:04:05Z) or a duration back from now (15m, 24h).
sql:          the window defaults to the last 24h; views: log_entries, measures, otel_spans, processes.
materialize:  the window defaults to the last 24h up to the start of the current hour, which is
              left open until it ends (pass --until to include it). --compact compacts after.
compact:      merges each table hour's parts (when it has N or more, default 2) into one, then
              deletes the parts merged, after --grace (default none); same default window.
serve:        answers the PostgreSQL wire protocol (psql, Grafana, drivers); the password is a
              token of the tenant with the query permission. Each statement reads the window its
              own predicates on time/start_time give, else the last --default-window (24h).
ddl:          prints the statements that declare the tables over the parts in another engine
              (docs/lakehouse.md says when, and what such engines do not see).
`

// Main runs the command line and returns its exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, Usage)
		return ExitUsage
	}
	var err error
	switch args[0] {
	case "sql":
		err = runSQL(ctx, args[1:], stdout, stderr)
	case "materialize":
		err = runMaterialize(ctx, args[1:], stdout, stderr)
	case "compact":
		err = runCompact(ctx, args[1:], stdout, stderr)
	case "ddl":
		err = runDDL(args[1:], stdout, stderr)
	case "serve":
		err = runServe(ctx, args[1:], stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, Usage)
		return ExitOK
	default:
		err = fmt.Errorf("unknown command %q", args[0])
		fmt.Fprint(stderr, Usage)
	}
	var sqlErr *SQLError
	var storeErr *StoreError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &sqlErr):
		fmt.Fprintln(stderr, sqlErr.Err)
		return ExitBadSQL
	case errors.As(err, &storeErr):
		fmt.Fprintf(stderr, "lakehouse: the store cannot be reached: %v\n", storeErr.Err)
		return ExitUnreachable
	}
	fmt.Fprintln(stderr, "lakehouse:", err)
	return ExitUsage
}

// commonFlags are the flags both commands take.
type commonFlags struct {
	storage, since, until, cache string
	cacheMaxBytes                int64
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	c.registerStore(fs)
	fs.StringVar(&c.since, "since", "24h", "start of the window: RFC 3339, or a duration back from now")
	fs.StringVar(&c.until, "until", "", "end of the window (exclusive): RFC 3339, or a duration back from now")
}

// registerStore registers the flags that say where the lake is and where its parts are cached;
// serve takes no window flags, each statement has its own.
func (c *commonFlags) registerStore(fs *flag.FlagSet) {
	fs.StringVar(&c.storage, "storage", "", "store URL, as given to the ingester (file:///path or s3://bucket/prefix?endpoint=...)")
	fs.StringVar(&c.cache, "cache", "", "directory for local copies of parts (default "+DefaultCacheDir()+")")
	fs.Int64Var(&c.cacheMaxBytes, "cache-max-bytes", DefaultCacheMaxBytes, "bound on the part cache: each run deletes the least recently used parts beyond it")
}

// window reads --since and --until; defaultUntil applies when --until is not given.
func (c *commonFlags) window(now, defaultUntil time.Time) (parts.Window, error) {
	since, err := layout.ParseTime(c.since, now)
	if err != nil {
		return parts.Window{}, fmt.Errorf("--since: %w", err)
	}
	until := defaultUntil
	if c.until != "" {
		if until, err = layout.ParseTime(c.until, now); err != nil {
			return parts.Window{}, fmt.Errorf("--until: %w", err)
		}
	}
	if !since.Before(until) {
		return parts.Window{}, fmt.Errorf("the window is empty: --since %s is not before --until %s", since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	return parts.Window{Since: since, Until: until}, nil
}

// openStore opens the store. Opening an S3 store does not reach it, so the first listing is what
// finds it unreachable; that error is a StoreError too.
func (c *commonFlags) openStore(ctx context.Context) (store.Store, error) {
	if c.storage == "" {
		return nil, errors.New("--storage is required")
	}
	st, err := store.Open(ctx, c.storage)
	if err != nil {
		return nil, &StoreError{Err: err}
	}
	return st, nil
}

func runSQL(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lakehouse sql", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c commonFlags
	c.register(fs)
	format := fs.String("format", FormatTable, "output format: table, csv or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New(`sql: want exactly one SQL statement, quoted: lakehouse sql --storage URL "SELECT ..."`)
	}
	switch *format {
	case FormatTable, FormatCSV, FormatJSON:
	default:
		return fmt.Errorf("--format %q: want table, csv or json", *format)
	}
	now := time.Now()
	w, err := c.window(now, now)
	if err != nil {
		return err
	}
	st, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	s, err := Open(ctx, QueryOptions{Store: st, Window: w, CacheDir: c.cache, CacheMaxBytes: c.cacheMaxBytes})
	if err != nil {
		return err
	}
	defer s.Close()
	for _, warning := range s.Warnings {
		fmt.Fprintln(stderr, "lakehouse: warning:", warning)
	}
	rs, err := s.Query(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	defer rs.Close()
	return writeResult(stdout, rs, *format)
}

func runMaterialize(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lakehouse materialize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c commonFlags
	c.register(fs)
	compact := fs.Bool("compact", false, "compact the window's parts afterwards, as the compact command does")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("materialize: unexpected arguments %q", fs.Args())
	}
	w, err := c.window(closedHours(time.Now()))
	if err != nil {
		return err
	}
	st, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	sum, err := Materialize(ctx, MaterializeOptions{Store: st, Window: w, CacheDir: c.cache, CacheMaxBytes: c.cacheMaxBytes, Compact: *compact})
	if err != nil {
		return err
	}
	writeSummary(stdout, w, sum)
	if sum.Compaction != nil {
		writeCompactSummary(stdout, nil, sum.Compaction)
	}
	return nil
}

// closedHours is now and the default end of the windows that write parts. The current hour is
// still filling; materializing it now would only make a small part that the next run follows with
// another. Queries decode its blocks on the fly meanwhile.
func closedHours(now time.Time) (time.Time, time.Time) {
	return now, now.UTC().Truncate(time.Hour)
}

func runCompact(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lakehouse compact", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c commonFlags
	c.register(fs)
	minParts := fs.Int("min-parts", 2, "merge a table hour's parts only when it has at least this many")
	grace := fs.Duration("grace", 0, "wait this long between writing the merged parts and deleting the parts they replace")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("compact: unexpected arguments %q", fs.Args())
	}
	if *minParts < 2 {
		return fmt.Errorf("--min-parts %d: a merge needs at least 2 parts", *minParts)
	}
	w, err := c.window(closedHours(time.Now()))
	if err != nil {
		return err
	}
	st, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	sum, err := Compact(ctx, CompactOptions{Store: st, Window: w, MinParts: *minParts, Grace: *grace, CacheDir: c.cache, CacheMaxBytes: c.cacheMaxBytes, Progress: stderr})
	if err != nil {
		return err
	}
	writeCompactSummary(stdout, &w, sum)
	return nil
}

// writeSummary prints a run's report: what it read, what it wrote, and every block it skipped.
func writeSummary(out io.Writer, w parts.Window, s *MaterializeSummary) {
	fmt.Fprintf(out, "window     %s .. %s\n", w.Since.UTC().Format(time.RFC3339), w.Until.UTC().Format(time.RFC3339))
	fmt.Fprintf(out, "hours      %d with blocks, %d got new parts\n", s.Hours, s.HoursWritten)
	fmt.Fprintf(out, "blocks     %d decoded, %d bytes of OTLP\n", s.Blocks, s.BytesIn)
	tables := make([]string, 0, len(s.Rows))
	for t := range s.Rows {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	var rowParts []string
	total := 0
	for _, t := range tables {
		rowParts = append(rowParts, fmt.Sprintf("%s %d", t, s.Rows[t]))
		total += s.Rows[t]
	}
	fmt.Fprintf(out, "rows       %d (%s)\n", total, strings.Join(rowParts, ", "))
	fmt.Fprintf(out, "parts      %d written, %d already there, %d bytes\n", s.PartsCreated, s.PartsDuplicate, s.BytesOut)
	fmt.Fprintf(out, "seconds    %.2f\n", s.Elapsed.Seconds())
	fmt.Fprintf(out, "skipped    %d blocks\n", len(s.Skipped))
	for _, b := range s.Skipped {
		fmt.Fprintf(out, "  %s: %s\n", b.Key, b.Reason)
	}
	if len(s.SkippedSegments) > 0 {
		fmt.Fprintf(out, "skipped    %d segments, every block in them\n", len(s.SkippedSegments))
		for _, b := range s.SkippedSegments {
			fmt.Fprintf(out, "  %s: %s\n", b.Key, b.Reason)
		}
	}
	if s.Undated > 0 {
		fmt.Fprintf(out, "undated    %d blocks carry no time: not materialized, every query decodes them\n", s.Undated)
	}
	for _, p := range s.BadParts {
		fmt.Fprintf(out, "bad part   %s: %s (its blocks were materialized again)\n", p.Key, p.Reason)
	}
}

func runDDL(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lakehouse ddl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	engine := fs.String("engine", EngineAthena, "athena, hive or trino")
	location := fs.String("location", "", "the tenant's bucket and prefix as the engine names it, e.g. s3://bucket/tenants/team-a")
	schema := fs.String("schema", "lake", "the Trino schema the tables go in")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *location == "" || fs.NArg() != 0 {
		return errors.New("ddl: want --location s3://BUCKET/PREFIX and no other arguments")
	}
	stmts, err := ExternalTables(*engine, *location, *schema)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, strings.Join(stmts, "\n\n"))
	return nil
}

// writeCompactSummary prints a compaction's report; w is nil when it follows a materialization's,
// which printed the window already.
func writeCompactSummary(out io.Writer, w *parts.Window, s *CompactSummary) {
	if w != nil {
		fmt.Fprintf(out, "window     %s .. %s\n", w.Since.UTC().Format(time.RFC3339), w.Until.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(out, "compacted  %d table hours: %d parts written, %d already there, %d replaced parts deleted, %d bytes\n",
		s.Groups, s.PartsCreated, s.PartsExisting, s.PartsDeleted, s.BytesOut)
	if w != nil {
		fmt.Fprintf(out, "seconds    %.2f\n", s.Elapsed.Seconds())
	}
	if s.Raced > 0 {
		fmt.Fprintf(out, "raced      %d table hours left alone: a compaction beside this one replaced a part as it was read\n", s.Raced)
	}
	seg := s.Segments
	fmt.Fprintf(out, "segments   %d signal hours rewritten: %d segments read, %d written, %d already there, %d deleted, %d duplicate blocks dropped\n",
		seg.Groups, seg.Read, seg.Created, seg.Existing, seg.Deleted, seg.DuplicatesDropped)
	if seg.Raced > 0 {
		fmt.Fprintf(out, "raced      %d signal hours' segments left alone: a compaction beside this one rewrote a segment as it was read\n", seg.Raced)
	}
	for _, b := range seg.Bad {
		fmt.Fprintf(out, "bad segment %s: %s (left as it is, not merged)\n", b.Key, b.Reason)
	}
	if w == nil {
		return // the materialization's summary listed the bad parts
	}
	for _, p := range s.BadParts {
		fmt.Fprintf(out, "bad part   %s: %s (left as it is, not merged)\n", p.Key, p.Reason)
	}
}
