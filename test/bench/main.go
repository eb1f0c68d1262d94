// Command bench measures, in one run on one machine, how the telemetrylake
// ingester compares with the OpenTelemetry Collector (otlpreceiver → nop) and
// a bare net/http server when receiving OTLP/HTTP protobuf log exports.
//
// Comparing side by side in a single invocation matters more than absolute
// numbers: the machine is shared and noisy, so only ratios measured under the
// same conditions mean anything.
//
//	go run ./test/bench [-duration 10s] [-subjects ingester,collector,bare] [-sizes 5KiB,1MiB]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type options struct {
	duration    time.Duration
	warmup      time.Duration
	concSmall   int
	concLarge   int
	subjects    []string
	sizes       []sizeSpec
	out         string
	tmpParent   string
	keep        bool
	ingesterBin string
	otelcolBin  string
	loadgen     string // "wrk" or "go"
}

// row is one measured subject × size combination.
type row struct {
	subject   string
	size      string
	res       *loadResult
	peakRSS   int64
	dataBytes int64 // bytes the subject left on disk (ingester lake)
	dataFiles int
	logPath   string
	// CPU time spent inside the measured window; -1 when unknown. On a
	// shared machine CPU per request is steadier than req/s, and the load
	// generator's share shows how much of the box the subject really had.
	subjectCPU time.Duration
	loadgenCPU time.Duration
	loadgen    string // which generator measured the row
	// s3 is the subject's S3 requests by action inside the measured window (SeaweedFS's own
	// count), nil for subjects that do not store in S3.
	s3 map[string]float64
}

func main() {
	os.Exit(run())
}

func run() int {
	opts, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// First signal: stop measuring and shut children down in order. Second
	// signal: the user is impatient, kill everything now.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "bench: interrupted, stopping subjects")
		cancel()
		<-sigs
		children.stopAll()
		os.Exit(130)
	}()
	defer children.stopAll()

	repo, err := repoRoot(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if opts.tmpParent == "" {
		opts.tmpParent = filepath.Join(repo, "bin", "bench")
		if err := os.MkdirAll(opts.tmpParent, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}
	tmp, err := os.MkdirTemp(opts.tmpParent, "telemetrylake-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	d := &runDir{root: tmp, repo: repo}
	defer d.stopServices()
	fmt.Fprintf(os.Stderr, "bench: work dir %s\n", tmp)
	if d.createCost, err = createCost(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}

	rows, err := measure(ctx, d, opts)
	if err != nil {
		children.stopAll()
		if ctx.Err() != nil {
			fmt.Fprintf(os.Stderr, "bench: interrupted; logs kept in %s\n", tmp)
			return 130
		}
		fmt.Fprintf(os.Stderr, "bench: %v\nbench: logs kept in %s\n", err, tmp)
		return 1
	}

	var report bytes.Buffer
	w := io.MultiWriter(os.Stdout, &report)
	printHeader(w, d, opts)
	printResults(w, rows, opts)
	if opts.out != "" {
		if err := os.WriteFile(opts.out, report.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}
	if opts.keep {
		fmt.Fprintf(os.Stderr, "bench: logs and data kept in %s\n", tmp)
	} else {
		os.RemoveAll(tmp)
		// Written back, the freed inodes slow the creates of the next run for one minute
		// rather than six (see createCost).
		if f, err := os.Open(opts.tmpParent); err == nil {
			unix.Syncfs(int(f.Fd()))
			f.Close()
		}
	}
	return 0
}

func parseFlags() (*options, error) {
	o := &options{}
	subjects := flag.String("subjects", strings.Join(subjectOrder, ","), "comma-separated subjects to run: "+strings.Join(subjectOrder, ", "))
	sizes := flag.String("sizes", "5KiB,1MiB", "comma-separated body sizes: 5KiB, 1MiB")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured window per subject and size")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each window")
	flag.IntVar(&o.concSmall, "concurrency-small", 32, "concurrent requests for 5KiB bodies")
	flag.IntVar(&o.concLarge, "concurrency-large", 4, "concurrent requests for 1MiB bodies")
	flag.StringVar(&o.out, "out", "", "also write the report to this file")
	flag.StringVar(&o.tmpParent, "tmpdir", "", "parent directory for logs and the subjects' stored data (default: bin/bench in the repository); its filesystem affects create and fsync costs")
	flag.BoolVar(&o.keep, "keep", false, "keep logs and ingester data after the run")
	flag.StringVar(&o.ingesterBin, "ingester-bin", "", "use this ingester binary instead of building bin/ingester")
	flag.StringVar(&o.otelcolBin, "otelcol-bin", "", "use this collector binary instead of asking hack/tools.sh")
	flag.StringVar(&o.loadgen, "loadgen", "wrk", "load generator: wrk (Debian package wrk, the default: the Go one is slower than the fastest subjects) or go")
	flag.Parse()
	if o.loadgen != "wrk" && o.loadgen != "go" {
		return nil, fmt.Errorf("-loadgen %q: want wrk or go", o.loadgen)
	}
	if flag.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", flag.Args())
	}
	if o.duration <= 0 || o.warmup < 0 || o.concSmall < 1 || o.concLarge < 1 {
		return nil, errors.New("durations must be positive and concurrencies at least 1")
	}

	seen := map[string]bool{}
	for _, s := range strings.Split(*subjects, ",") {
		s = strings.TrimSpace(s)
		if _, ok := subjectKinds[s]; !ok {
			return nil, fmt.Errorf("unknown subject %q", s)
		}
		seen[s] = true
	}
	// Fixed order keeps reports comparable whatever order the flag lists.
	for _, s := range subjectOrder {
		if seen[s] {
			o.subjects = append(o.subjects, s)
		}
	}
	for _, s := range strings.Split(*sizes, ",") {
		spec, err := parseSize(s)
		if err != nil {
			return nil, err
		}
		o.sizes = append(o.sizes, spec)
	}
	return o, nil
}

func repoRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the telemetrylake module; run from the repository")
	}
	return filepath.Dir(mod), nil
}

func (o *options) concurrencyFor(s sizeSpec) int {
	if s.target >= 1<<20 {
		return o.concLarge
	}
	return o.concSmall
}

// measure runs every size × subject. Sizes form the outer loop so the rows
// being compared with each other are measured close together in time, which
// limits the effect of neighbours on the shared machine drifting.
func measure(ctx context.Context, d *runDir, opts *options) ([]row, error) {
	want := map[string]bool{}
	for _, s := range opts.subjects {
		want[s] = true
	}
	if err := prepare(ctx, d, want, opts); err != nil {
		return nil, err
	}

	var rows []row
	for _, size := range opts.sizes {
		p, err := buildPayload(size, time.Now())
		if err != nil {
			return nil, fmt.Errorf("build %s payload: %w", size.name, err)
		}
		payloads[size.name] = p
		for _, name := range opts.subjects {
			r, err := measureOne(ctx, d, opts, subjectKinds[name], p, opts.concurrencyFor(size))
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", name, size.name, err)
			}
			fmt.Fprintf(os.Stderr, "bench: %-17s %-5s %9.1f req/s  p99 %s  errors %d\n",
				name, size.name, r.res.reqPerSec(), fmtDur(r.res.percentile(99)), r.res.errors)
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// payloads is kept for the report header.
var payloads = map[string]*payload{}

func measureOne(ctx context.Context, d *runDir, opts *options, kind subjectKind, p *payload, conc int) (row, error) {
	fmt.Fprintf(os.Stderr, "bench: starting %s for %s (concurrency %d)\n", kind.name, p.name, conc)
	proc, err := launch(ctx, d, kind, p.name)
	if err != nil {
		return row{}, fmt.Errorf("start: %w", err)
	}
	defer proc.stop()

	// A subject that dies mid-run must abort the load at once rather than
	// leave the workers spinning on refused connections.
	loadCtx, cancelLoad := context.WithCancel(ctx)
	defer cancelLoad()
	go func() {
		select {
		case <-proc.exited:
			cancelLoad()
		case <-loadCtx.Done():
		}
	}()

	type cpuMark struct {
		subject time.Duration
		ok      bool
		self    time.Duration
		s3      map[string]float64
		s3Err   error
	}
	var marks []cpuMark // written only by the load's window edges, read after it returns
	cfg := loadConfig{
		url:         proc.url,
		concurrency: conc,
		warmup:      opts.warmup,
		duration:    opts.duration,
		payload:     p,
		atWindowEdge: func() {
			c, ok := procCPU(proc.cmd.Process.Pid)
			m := cpuMark{subject: c, ok: ok, self: selfCPU()}
			if proc.s3 != nil {
				m.s3, m.s3Err = proc.s3.counts(ctx)
			}
			marks = append(marks, m)
		},
	}
	generator := opts.loadgen
	if kind.goLoad {
		generator = "go"
	}
	var res *loadResult
	if generator == "wrk" {
		var body string
		if body, err = d.wrk.body(d, p); err == nil {
			res, err = runWrk(loadCtx, d.wrk, body, cfg)
		}
	} else {
		res, err = runLoad(loadCtx, cfg)
	}
	if proc.crashed() {
		return row{}, fmt.Errorf("subject exited during the run (%v); log: %s\n%s", proc.waitErr, proc.logPath, tail(proc.logPath, 15))
	}
	if err != nil {
		return row{}, err
	}
	r := row{subject: kind.name, size: p.name, res: res, peakRSS: proc.peakRSS(), logPath: proc.logPath,
		subjectCPU: -1, loadgenCPU: -1, loadgen: generator}
	if len(marks) == 2 {
		if marks[0].ok && marks[1].ok {
			r.subjectCPU = marks[1].subject - marks[0].subject
		}
		r.loadgenCPU = marks[1].self - marks[0].self
		if proc.s3 != nil {
			if err := errors.Join(marks[0].s3Err, marks[1].s3Err); err != nil {
				return row{}, fmt.Errorf("counting S3 requests: %w", err)
			}
			r.s3 = map[string]float64{}
			for action, n := range marks[1].s3 {
				r.s3[action] = n - marks[0].s3[action]
			}
		}
	}
	proc.stop()
	if proc.dataDir != "" {
		r.dataBytes, r.dataFiles = dirSize(proc.dataDir)
		// Removed with the work dir once every subject has run, not now: freeing a run's
		// hundred thousand inodes would slow the creates of the runs after it (see tmpParent).
	}
	return r, nil
}

func dirSize(dir string) (total int64, files int) {
	_ = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				total += info.Size()
				files++
			}
		}
		return nil
	})
	return total, files
}

// createCost times creating empty files in a new directory under dir, and leaves them there (the
// work dir's removal takes them). On an ext4 without a journal, as on this machine, the inode
// allocator skips every inode freed in the last minutes (up to six while the inode table is not
// yet written back), so creating files near recently deleted ones is slow: 8 µs per create in a
// quiet block group, 60 to 170 µs in /tmp or just after a previous bench run's cleanup, measured
// here. The stored subjects pay it twice per block, so the report shows it.
func createCost(dir string) (time.Duration, error) {
	probe, err := os.MkdirTemp(dir, "create-probe-")
	if err != nil {
		return 0, err
	}
	const n = 2000
	start := time.Now()
	for i := range n {
		f, err := os.OpenFile(filepath.Join(probe, strconv.Itoa(i)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return 0, err
		}
		f.Close()
	}
	return time.Since(start) / n, nil
}

func printHeader(w io.Writer, d *runDir, opts *options) {
	fmt.Fprintln(w, "telemetrylake OTLP/HTTP logs ingest benchmark")
	fmt.Fprintf(w, "date:        %s\n", time.Now().Format(time.RFC3339))
	fmt.Fprintf(w, "machine:     nproc=%d GOMAXPROCS=%d cpu=%q kernel=%s\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), cpuModel(), readTrim("/proc/sys/kernel/osrelease"))
	fmt.Fprintf(w, "load avg:    %s at start, %s at end (shared machine: other load skews absolute numbers)\n",
		loadAvgAtStart, loadAvg())
	fmt.Fprintf(w, "go:          %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "data dir:    %s; creating an empty file there costs %s (a quiet ext4 block group: ~8µs here; far more means recent deletes nearby, which slow the stored subjects)\n",
		d.root, fmtCPU(d.createCost))
	if d.otelcol != "" {
		fmt.Fprintf(w, "collector:   %s\n", collectorVersion(d.otelcol))
	}
	fmt.Fprintf(w, "load:        closed loop, HTTP/1.1 keep-alive, warm-up %s, window %s per row; load generator shares the machine\n",
		opts.warmup, opts.duration)
	for _, s := range opts.sizes {
		if p := payloads[s.name]; p != nil {
			fmt.Fprintf(w, "payload %-4s %d bytes, %d log records, uncompressed protobuf, unique per request\n",
				s.name+":", len(p.body), p.records)
		}
	}
	fmt.Fprintln(w)
}

func printResults(w io.Writer, rows []row, opts *options) {
	fmt.Fprintf(w, "%-10s %-5s %5s %10s %9s %9s %9s %7s %9s\n",
		"subject", "size", "conc", "req/s", "MB/s", "p50", "p99", "errors", "peakRSS")
	for _, r := range rows {
		fmt.Fprintf(w, "%-10s %-5s %5d %10.1f %9.1f %9s %9s %7d %9s\n",
			r.subject, r.size, r.res.concurrency, r.res.reqPerSec(), r.res.mbPerSec(),
			fmtDur(r.res.percentile(50)), fmtDur(r.res.percentile(99)), r.res.errors, fmtMiB(r.peakRSS))
	}

	find := func(subject, size string) *row {
		for i := range rows {
			if rows[i].subject == subject && rows[i].size == size {
				return &rows[i]
			}
		}
		return nil
	}
	ratio := func(a, b, size string) (float64, bool) {
		ra, rb := find(a, size), find(b, size)
		if ra == nil || rb == nil || rb.res.reqPerSec() == 0 {
			return 0, false
		}
		return ra.res.reqPerSec() / rb.res.reqPerSec(), true
	}
	fmtRatio := func(v float64, ok bool) string {
		if !ok {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", v)
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "ratios (req/s):")
	// Each line compares one subject with others, for every size where both were measured.
	// bare-store keeps the storage contract and does nothing else: its ratios bound what any
	// ingester that keeps the one-object-per-block contract can reach here; ingester-seg is
	// storage v2.
	for _, line := range [][][2]string{
		{{"ingester", "collector"}, {"ingester", "bare"}},
		{{"bare-store", "collector"}, {"bare-store", "bare"}, {"ingester", "bare-store"}},
		{{"ingester-seg", "ingester"}, {"ingester-seg", "collector"}, {"ingester-seg", "bare-store"}},
	} {
		for _, s := range opts.sizes {
			var cells []string
			any := false
			for _, pair := range line {
				v, ok := ratio(pair[0], pair[1], s.name)
				any = any || ok
				cells = append(cells, fmt.Sprintf("%s/%s = %-6s", pair[0], pair[1], fmtRatio(v, ok)))
			}
			if any {
				fmt.Fprintf(w, "  %-5s %s\n", s.name, strings.TrimSpace(strings.Join(cells, " ")))
			}
		}
	}

	cpuPerReq := func(r *row) (time.Duration, bool) {
		if r == nil || r.subjectCPU < 0 || r.res.ok == 0 {
			return 0, false
		}
		return r.subjectCPU / time.Duration(r.res.ok), true
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "ratios (subject CPU per request; below 1 means the ingester spends less):")
	for _, s := range opts.sizes {
		ing, okI := cpuPerReq(find("ingester", s.name))
		col, okC := cpuPerReq(find("collector", s.name))
		bare, okB := cpuPerReq(find("bare", s.name))
		fmt.Fprintf(w, "  %-5s ingester/collector = %-6s ingester/bare = %s\n", s.name,
			fmtRatio(float64(ing)/float64(col), okI && okC && col > 0),
			fmtRatio(float64(ing)/float64(bare), okI && okB && bare > 0))
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "cpu in the measured window (cores = CPU time / window):")
	fmt.Fprintf(w, "  %-10s %-5s %13s %12s %13s\n", "subject", "size", "subject cores", "CPU/request", "loadgen cores")
	for i := range rows {
		r := &rows[i]
		cores, perReq, lg := "n/a", "n/a", "n/a"
		if r.subjectCPU >= 0 {
			cores = fmt.Sprintf("%.2f", r.subjectCPU.Seconds()/r.res.window.Seconds())
		}
		if d, ok := cpuPerReq(r); ok {
			perReq = fmtCPU(d)
		}
		if r.loadgenCPU >= 0 {
			lg = fmt.Sprintf("%.2f", r.loadgenCPU.Seconds()/r.res.window.Seconds())
		}
		fmt.Fprintf(w, "  %-10s %-5s %13s %12s %13s\n", r.subject, r.size, cores, perReq, lg)
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "targets:")
	target := func(label, measured string, ok, known bool) {
		if !known {
			fmt.Fprintf(w, "  %-40s n/a (not measured)\n", label)
			return
		}
		v := "NOT met"
		if ok {
			v = "met"
		}
		fmt.Fprintf(w, "  %-40s measured %-28s %s\n", label, measured, v)
	}
	small := knownSizes[0].name
	v, ok := ratio("ingester", "collector", small)
	target(fmt.Sprintf("ingester/collector req/s on %s >= 2.0", small), fmt.Sprintf("%.2f", v), v >= 2.0, ok)
	v, ok = ratio("ingester", "bare", small)
	target(fmt.Sprintf("ingester/bare req/s on %s >= 0.7", small), fmt.Sprintf("%.2f", v), v >= 0.7, ok)
	// The RSS budget applies to the ingester whatever it is fed, so the
	// worst row counts.
	var peak int64
	var at []string
	for _, r := range rows {
		if r.subject == "ingester" {
			at = append(at, r.size)
			peak = max(peak, r.peakRSS)
		}
	}
	target("ingester peak RSS <= 64 MiB", fmt.Sprintf("%s (max of %s)", fmtMiB(peak), strings.Join(at, ",")),
		peak > 0 && peak <= 64<<20, len(at) > 0)

	var notes []string
	for _, r := range rows {
		if r.res.errors > 0 || r.res.warmupErrs > 0 {
			notes = append(notes, fmt.Sprintf("%s %s: %d errors in window, %d in warm-up, first: %s (log %s)",
				r.subject, r.size, r.res.errors, r.res.warmupErrs, r.res.firstErr, r.logPath))
		}
		if r.subject == "ingester" || r.subject == "bare-store" {
			// Stored bytes far below what was acknowledged would mean the
			// subject is skipping work, making its numbers meaningless.
			notes = append(notes, fmt.Sprintf("%s %s: stored %.1f MB in %d files after acknowledging %.1f MB in %d requests (warm-up included)",
				r.subject, r.size, float64(r.dataBytes)/1e6, r.dataFiles, float64(r.res.allBytes)/1e6, r.res.allOK))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "notes:")
		for _, n := range notes {
			fmt.Fprintln(w, "  "+n)
		}
	}
}

func fmtDur(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1fms", ms)
	default:
		return fmt.Sprintf("%.0fms", ms)
	}
}

func fmtCPU(d time.Duration) string {
	us := float64(d) / float64(time.Microsecond)
	if us < 1000 {
		return fmt.Sprintf("%.0fµs", us)
	}
	return fmt.Sprintf("%.2fms", us/1000)
}

func fmtMiB(b int64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20))
}

// loadAvgAtStart is taken before any subject runs, to show how busy the
// machine already was.
var loadAvgAtStart = loadAvg()

func loadAvg() string {
	f := strings.Fields(readTrim("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func cpuModel() string {
	for _, line := range strings.Split(readTrim("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func collectorVersion(bin string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return bin
	}
	return strings.TrimSpace(string(out))
}
