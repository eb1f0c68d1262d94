// Command bench measures, in one run on one machine, how the telemetrylake
// ingester (both storage layouts, on the file store and on SeaweedFS) compares
// with the OpenTelemetry Collector (otlpreceiver → nop, and made durable with a
// persistent queue on file_storage), a durable floor (hash, append to one file,
// group-committed fdatasync) and a bare net/http server when receiving
// OTLP/HTTP protobuf log exports. The load comes from wrk (Debian) with a script
// that makes every body distinct.
//
// Comparing side by side in a single invocation matters more than absolute
// numbers: the machine is shared and noisy, so only ratios measured under the
// same conditions mean anything.
//
//	go run ./test/bench [-duration 10s] [-subjects ingester-seg,durable-floor,bare] [-sizes 5KiB,1MiB] [-loadgen wrk|go]
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
	"sort"
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
	loadgen     string // "auto", "wrk" or "go"
	profileDir  string
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
	s3         map[string]float64
	profile    string // the CPU profile of the window, if -profile
	profileErr error
	// storeCPU is SeaweedFS's CPU time in the window for S3 subjects, -1 if unknown.
	storeCPU time.Duration
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
	d := &runDir{root: tmp, repo: repo, profileDir: opts.profileDir}
	if d.profileDir != "" {
		if err := os.MkdirAll(d.profileDir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}
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
	// SeaweedFS keeps writing its data dir (in tmp) until it stops.
	d.stopServices()
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
	flag.StringVar(&o.profileDir, "profile", "", "write a CPU profile of each ingester row's measured window to this directory (costs the ingester a little CPU)")
	flag.StringVar(&o.loadgen, "loadgen", "auto", "load generator: wrk (the Debian package), go (the bench's own), or auto: wrk for bodies under 64 KiB, go for larger ones")
	flag.Parse()
	if o.loadgen != "auto" && o.loadgen != "wrk" && o.loadgen != "go" {
		return nil, fmt.Errorf("-loadgen %q: want auto, wrk or go", o.loadgen)
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

// generatorFor picks the load generator of a row; other picks the one not chosen.
//
// With auto, wrk drives bodies under 64 KiB and the Go generator larger ones. Measured against
// bare here (issue 12): on 5 KiB bodies wrk reaches ~37k req/s where the Go generator stops near
// 20k; on 1 MiB bodies wrk's script must build each distinct 1 MiB request as a new LuaJIT
// string (interned, so hashed, then copied once more by wrk), which cost ~10x the requests per
// second of a static body, and the Go generator, which stamps 8 bytes of one buffer in place,
// drove bare ~4x faster than wrk did.
func (o *options) generatorFor(p *payload, other bool) string {
	g := o.loadgen
	if g == "auto" {
		g = "wrk"
		if len(p.body) >= 64<<10 {
			g = "go"
		}
	}
	if other {
		if g == "wrk" {
			return "go"
		}
		return "wrk"
	}
	return g
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
		store   time.Duration
		storeOK bool
	}
	var marks []cpuMark // written only by the load's window edges, read after it returns
	var profile string
	profileDone := make(chan error, 1)
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
				if d.weedPid > 0 {
					m.store, m.storeOK = procCPU(d.weedPid)
				}
			}
			marks = append(marks, m)
			if len(marks) == 1 && proc.pprof != "" {
				profile = filepath.Join(opts.profileDir, fmt.Sprintf("%s-%s.pb.gz", kind.name, p.name))
				go func() {
					profileDone <- cpuProfile(ctx, proc.pprof, max(1, int(opts.duration.Seconds())), profile)
				}()
			}
		},
	}
	generator := opts.generatorFor(p, kind.otherLoad)
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
		subjectCPU: -1, loadgenCPU: -1, loadgen: generator, storeCPU: -1}
	if profile != "" {
		select {
		case r.profileErr = <-profileDone:
		case <-time.After(30 * time.Second):
			r.profileErr = errors.New("no profile 30s after the window")
		}
		r.profile = profile
	}
	if len(marks) == 2 {
		if marks[0].ok && marks[1].ok {
			r.subjectCPU = marks[1].subject - marks[0].subject
		}
		r.loadgenCPU = marks[1].self - marks[0].self
		if proc.s3 != nil {
			if err := errors.Join(marks[0].s3Err, marks[1].s3Err); err != nil {
				return row{}, fmt.Errorf("counting S3 requests: %w", err)
			}
			if marks[0].storeOK && marks[1].storeOK {
				r.storeCPU = marks[1].store - marks[0].store
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
	gen := "the bench's own Go generator"
	if d.wrk != nil {
		gen = fmt.Sprintf("-loadgen %s: %s (threads = min(concurrency, cores)) or the bench's own Go generator, per row; bare-altload is bare with the other one", opts.loadgen, wrkVersion(d.wrk.bin))
	}
	fmt.Fprintf(w, "load:        %s; closed loop, HTTP/1.1 keep-alive, warm-up %s, window %s per row; the generator shares the machine\n",
		gen, opts.warmup, opts.duration)
	for _, s := range opts.sizes {
		if p := payloads[s.name]; p != nil {
			fmt.Fprintf(w, "payload %-4s %d bytes, %d log records, uncompressed protobuf, unique per request\n",
				s.name+":", len(p.body), p.records)
		}
	}
	fmt.Fprintln(w)
}

func printResults(w io.Writer, rows []row, opts *options) {
	find := func(subject, size string) *row {
		for i := range rows {
			if rows[i].subject == subject && rows[i].size == size {
				return &rows[i]
			}
		}
		return nil
	}
	cpuPerReq := func(r *row) (time.Duration, bool) {
		if r == nil || r.subjectCPU < 0 || r.res.ok == 0 {
			return 0, false
		}
		return r.subjectCPU / time.Duration(r.res.ok), true
	}
	cores := func(d time.Duration, r *row) string {
		if d < 0 || r.res.window <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", d.Seconds()/r.res.window.Seconds())
	}

	fmt.Fprintf(w, "%-17s %-5s %4s %-4s %9s %8s %8s %8s %6s %8s %8s %6s %6s\n",
		"subject", "size", "conc", "load", "req/s", "MB/s", "p50", "p99", "errors", "peakRSS", "CPU/req", "cores", "lgcore")
	for i := range rows {
		r := &rows[i]
		perReq := "n/a"
		if d, ok := cpuPerReq(r); ok {
			perReq = fmtCPU(d)
		}
		fmt.Fprintf(w, "%-17s %-5s %4d %-4s %9.1f %8.1f %8s %8s %6d %8s %8s %6s %6s\n",
			r.subject, r.size, r.res.concurrency, r.loadgen, r.res.reqPerSec(), r.res.mbPerSec(),
			fmtDur(r.res.percentile(50)), fmtDur(r.res.percentile(99)), r.res.errors, fmtMiB(r.peakRSS),
			perReq, cores(r.subjectCPU, r), cores(r.loadgenCPU, r))
	}
	fmt.Fprintln(w, "  load: the generator (wrk, or go: the bench's own); CPU/req and cores: the subject's CPU in the window;")
	fmt.Fprintln(w, "  lgcore: the generator's. Subjects and generator share the machine's cores.")

	// S3 requests per 1,000 acknowledged requests, as SeaweedFS counted them in the window.
	perK := func(r *row, actions ...string) float64 {
		var n float64
		for _, a := range actions {
			n += r.s3[a]
		}
		return n / float64(max(r.res.ok, 1)) * 1000
	}
	var s3rows []*row
	for i := range rows {
		if rows[i].s3 != nil {
			s3rows = append(s3rows, &rows[i])
		}
	}
	if len(s3rows) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "S3 requests per 1,000 acknowledged requests (SeaweedFS_s3_request_total of the run's bucket, measured window);")
		fmt.Fprintln(w, "weed/req and weed cores: SeaweedFS's CPU in the window, beside the subject's own above:")
		fmt.Fprintf(w, "  %-17s %-5s %9s %9s %9s %9s %9s %9s\n", "subject", "size", "PUT", "GET", "other", "S3 req/s", "weed/req", "weed cores")
		for _, r := range s3rows {
			var all float64
			var other []string
			for a, n := range r.s3 {
				all += n
				if a != "PUT" && a != "GET" && n > 0 {
					other = append(other, fmt.Sprintf("%s %.0f", a, n))
				}
			}
			sort.Strings(other)
			otherK := all - r.s3["PUT"] - r.s3["GET"]
			weedPerReq := "n/a"
			if r.storeCPU >= 0 && r.res.ok > 0 {
				weedPerReq = fmtCPU(r.storeCPU / time.Duration(r.res.ok))
			}
			fmt.Fprintf(w, "  %-17s %-5s %9.1f %9.1f %9.1f %9.1f %9s %9s  %s\n", r.subject, r.size, perK(r, "PUT"), perK(r, "GET"),
				otherK/float64(max(r.res.ok, 1))*1000, all/r.res.window.Seconds(), weedPerReq, cores(r.storeCPU, r), strings.Join(other, ", "))
		}
	}

	ratio := func(a, b, size string, of func(*row) (float64, bool)) (float64, bool) {
		ra, rb := find(a, size), find(b, size)
		if ra == nil || rb == nil {
			return 0, false
		}
		va, okA := of(ra)
		vb, okB := of(rb)
		if !okA || !okB || vb == 0 {
			return 0, false
		}
		return va / vb, true
	}
	reqs := func(r *row) (float64, bool) { return r.res.reqPerSec(), true }
	mbs := func(r *row) (float64, bool) { return r.res.mbPerSec(), true }
	cpu := func(r *row) (float64, bool) {
		d, ok := cpuPerReq(r)
		return float64(d), ok
	}
	fmtRatio := func(v float64, ok bool) string {
		if !ok {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", v)
	}
	// Each line compares one subject with others, for every size where any pair was measured.
	// The durable floor is what any durable server must pay here; collector-durable is the
	// Collector made as durable as the ingester; bare-store keeps the one-object-per-block
	// contract and does nothing else; bare/bare-altload compares the two load generators.
	printRatios := func(title string, of func(*row) (float64, bool), lines [][][2]string) {
		fmt.Fprintln(w)
		fmt.Fprintln(w, title)
		for _, line := range lines {
			for _, s := range opts.sizes {
				var cells []string
				any := false
				for _, pair := range line {
					v, ok := ratio(pair[0], pair[1], s.name, of)
					if ok {
						any = true
						cells = append(cells, fmt.Sprintf("%s/%s = %s", pair[0], pair[1], fmtRatio(v, ok)))
					}
				}
				if any {
					fmt.Fprintf(w, "  %-5s %s\n", s.name, strings.Join(cells, "   "))
				}
			}
		}
	}
	printRatios("ratios (req/s):", reqs, [][][2]string{
		{{"ingester-seg", "durable-floor"}, {"ingester", "durable-floor"}, {"bare-store", "durable-floor"}},
		{{"ingester-seg-create", "durable-floor"}, {"ingester-seg", "ingester-seg-create"}},
		{{"ingester-seg", "collector"}, {"ingester-seg", "collector-durable"}, {"durable-floor", "collector"}},
		{{"ingester-seg", "ingester"}, {"ingester-seg-s3", "ingester-s3"}, {"ingester-seg-s3", "ingester-seg"}},
		{{"bare", "bare-altload"}, {"durable-floor", "bare"}},
	})
	printRatios("ratios (MB/s):", mbs, [][][2]string{
		{{"ingester-seg", "durable-floor"}, {"ingester", "durable-floor"}, {"collector-durable", "durable-floor"}},
		{{"ingester-seg-create", "durable-floor"}, {"ingester-seg", "ingester-seg-create"}},
	})
	printRatios("ratios (subject CPU per request; below 1 means the first spends less):", cpu, [][][2]string{
		{{"ingester-seg", "durable-floor"}, {"ingester-seg", "collector"}, {"ingester-seg", "collector-durable"}, {"ingester-seg", "ingester"}},
	})

	fmt.Fprintln(w)
	fmt.Fprintln(w, "targets (issue 12):")
	target := func(label string, v float64, known bool, ok bool, format string) {
		if !known {
			fmt.Fprintf(w, "  %-58s n/a (not measured)\n", label)
			return
		}
		verdict := "NOT met"
		if ok {
			verdict = "met"
		}
		fmt.Fprintf(w, "  %-58s measured %-10s %s\n", label, fmt.Sprintf(format, v), verdict)
	}
	small, large := knownSizes[0].name, knownSizes[1].name
	v, ok := ratio("ingester-seg", "durable-floor", small, reqs)
	target(fmt.Sprintf("ingester-seg/durable-floor req/s on %s >= 0.9", small), v, ok, v >= 0.9, "%.2f")
	v, ok = ratio("ingester-seg", "collector-durable", small, reqs)
	target(fmt.Sprintf("ingester-seg/collector-durable req/s on %s >= 8", small), v, ok, v >= 8, "%.2f")
	if r := find("ingester-seg-s3", small); r != nil && r.s3 != nil {
		v := perK(r, "PUT")
		target(fmt.Sprintf("ingester-seg-s3 PUTs per 1,000 requests on %s <= 50", small), v, true, v <= 50, "%.1f")
	} else {
		target(fmt.Sprintf("ingester-seg-s3 PUTs per 1,000 requests on %s <= 50", small), 0, false, false, "")
	}
	v, ok = ratio("ingester-seg-s3", "ingester-s3", small, reqs)
	target(fmt.Sprintf("ingester-seg-s3/ingester-s3 req/s on %s >= 3", small), v, ok, v >= 3, "%.2f")
	v, ok = ratio("ingester-seg", "durable-floor", large, mbs)
	target(fmt.Sprintf("ingester-seg/durable-floor MB/s on %s >= 0.9", large), v, ok, v >= 0.9, "%.2f")
	// The RSS bound is for 1,000 req/s: the small bodies' row, which runs a closed loop
	// at full speed (more than 1,000 req/s here, a harder test of the same bound). 1 MiB bodies
	// at 1,000 req/s would be 1 GB/s, past this machine; their RSS is in the table above.
	var peak int64
	reached := false
	for _, r := range rows {
		if r.subject == "ingester-seg" && r.size == small {
			peak, reached = r.peakRSS, r.res.reqPerSec() >= 1000
		}
	}
	target(fmt.Sprintf("ingester-seg peak RSS on %s at >= 1,000 req/s <= 64 MiB", small), float64(peak)/(1<<20), peak > 0 && reached, peak <= 64<<20, "%.1fMiB")

	var notes []string
	for _, r := range rows {
		if r.res.errors > 0 || r.res.warmupErrs > 0 {
			notes = append(notes, fmt.Sprintf("%s %s: %d errors in window, %d in warm-up, first: %s (log %s)",
				r.subject, r.size, r.res.errors, r.res.warmupErrs, r.res.firstErr, r.logPath))
		}
		if r.dataFiles > 0 || strings.HasPrefix(r.subject, "ingester") && r.s3 == nil {
			// Stored bytes far below what was acknowledged would mean the
			// subject is skipping work, making its numbers meaningless.
			notes = append(notes, fmt.Sprintf("%s %s: stored %.1f MB in %d files after acknowledging %.1f MB in %d requests (warm-up included)",
				r.subject, r.size, float64(r.dataBytes)/1e6, r.dataFiles, float64(r.res.allBytes)/1e6, r.res.allOK))
		}
	}
	for _, r := range rows {
		switch {
		case r.profileErr != nil:
			notes = append(notes, fmt.Sprintf("%s %s: no CPU profile: %v", r.subject, r.size, r.profileErr))
		case r.profile != "":
			notes = append(notes, fmt.Sprintf("%s %s: CPU profile of the window: go tool pprof -top %s", r.subject, r.size, r.profile))
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
