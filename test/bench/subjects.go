package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/telemetrylake/telemetrylake/test/harness"
)

// subjectKind knows how to launch one of the servers under test. Every
// launch gets fresh ports and, for the ingester, a fresh lake (a fresh bucket on
// SeaweedFS), so runs do not inherit each other's state (heap, files, dedup index).
type subjectKind struct {
	name string
	// start prepares the command (not yet started), and starts what it needs besides.
	start func(ctx context.Context, d *runDir) (*launchSpec, error)
	// otherLoad measures the subject with the load generator the row's size does not use
	// (see options.generatorFor): the row that shows what the other generator reaches.
	otherLoad bool
}

// launchSpec is a subject ready to start.
type launchSpec struct {
	cmd     *exec.Cmd
	url     string                     // where the bench POSTs the exports
	ready   func(context.Context) bool // polled until true
	dataDir string                     // what the run may fill, measured afterwards
	// s3 is set for a subject storing in SeaweedFS: its requests there are counted.
	s3 *s3Bucket
	// pprof is the CPU profile endpoint of an ingester started with -profile.
	pprof string
	// cleanup stops what start started besides cmd (the durable Collector's sink).
	cleanup func()
}

// runDir holds everything a bench invocation creates on disk.
type runDir struct {
	root       string // temp dir: logs, configs, lakes, the bare server binary
	repo       string // repository root
	ingester   string // binary paths, resolved during preparation
	otelcol    string
	bareserver string
	wrk        *wrkFiles // nil with -loadgen go
	seq        int       // distinguishes per-run files
	profileDir string    // -profile: where the ingesters' CPU profiles go
	createCost time.Duration

	// The SeaweedFS of the S3 subjects, started once by prepare through test/harness, exactly
	// as the tests start it; each S3 run gets its own bucket.
	weed    *harness.SeaweedFS
	weedTB  *harnessTB
	weedPid int // for its CPU time; 0 if not found
}

func (d *runDir) path(name string) string { return filepath.Join(d.root, name) }

var subjectKinds = map[string]subjectKind{
	"ingester": {name: "ingester", start: fileIngester("--layout", "blocks")},
	// ingester-seg is the same binary with storage v2: blocks in group-committed segments.
	"ingester-seg": {name: "ingester-seg", start: fileIngester()},
	// ingester-seg-create writes a file per segment of a flush (two barriers), where ingester-seg
	// appends the flush to an open segment (one): docs/contracts/storage.md §5.7.
	"ingester-seg-create": {name: "ingester-seg-create", start: fileIngester("--segments-file-mode", "create")},
	// The two layouts on SeaweedFS, where what a request costs is counted in S3 requests.
	"ingester-s3":     {name: "ingester-s3", start: s3Ingester("--layout", "blocks")},
	"ingester-seg-s3": {name: "ingester-seg-s3", start: s3Ingester()},
	// durable-floor: read, hash, append to one file, one group-committed fdatasync; the least a
	// durable server does here (bareserver's appendLog).
	"durable-floor":     {name: "durable-floor", start: startDurableFloor},
	"collector":         {name: "collector", start: startCollector},
	"collector-durable": {name: "collector-durable", start: startDurableCollector},
	"bare":              {name: "bare", start: startBare},
	// bare measured with the other load generator, beside bare measured with the chosen one.
	"bare-altload": {name: "bare-altload", start: startBare, otherLoad: true},
	// bare-store is the bare server storing each body as the ingester stores a block: the
	// storage contract's own cost, which bounds any ingester that keeps it.
	"bare-store": {name: "bare-store", start: startBareStore},
}

var subjectOrder = []string{"ingester", "ingester-seg", "ingester-seg-create", "ingester-s3", "ingester-seg-s3", "durable-floor",
	"collector", "collector-durable", "bare", "bare-altload", "bare-store"}

// prepare builds or locates the binaries of the chosen subjects up front, and starts SeaweedFS
// if an S3 subject is chosen, so a broken build fails the bench before any time is spent measuring.
func prepare(ctx context.Context, d *runDir, want map[string]bool, opts *options) error {
	if want["bare"] || want["bare-altload"] || want["bare-store"] || want["durable-floor"] || want["collector-durable"] {
		d.bareserver = d.path("bareserver")
		if err := goBuild(ctx, d.repo, d.bareserver, "./test/bench/bareserver"); err != nil {
			return fmt.Errorf("build bare server: %w", err)
		}
	}
	if want["ingester"] || want["ingester-seg"] || want["ingester-seg-create"] || want["ingester-s3"] || want["ingester-seg-s3"] {
		if opts.ingesterBin != "" {
			d.ingester = opts.ingesterBin
		} else {
			d.ingester = filepath.Join(d.repo, "bin", "ingester")
			if err := goBuild(ctx, d.repo, d.ingester, "./cmd/ingester"); err != nil {
				return fmt.Errorf("build ingester: %w", err)
			}
		}
	}
	if want["collector"] || want["collector-durable"] {
		if opts.otelcolBin != "" {
			d.otelcol = opts.otelcolBin
		} else {
			// tools.sh may compile the collector on first use; its progress
			// goes to stderr, the binary path comes last on stdout.
			cmd := exec.CommandContext(ctx, filepath.Join(d.repo, "hack", "tools.sh"), "otelcol")
			cmd.Dir = d.repo
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			if err != nil {
				return fmt.Errorf("hack/tools.sh otelcol: %w", err)
			}
			lines := strings.Fields(strings.TrimSpace(string(out)))
			if len(lines) == 0 {
				return errors.New("hack/tools.sh otelcol printed no path")
			}
			d.otelcol = lines[len(lines)-1]
		}
		if _, err := os.Stat(d.otelcol); err != nil {
			return fmt.Errorf("collector binary: %w", err)
		}
	}
	if opts.loadgen != "go" || want["bare-altload"] {
		bin, err := wrkPath()
		if err != nil {
			return err
		}
		d.wrk = &wrkFiles{bin: bin, script: d.path("bench.lua"), bodies: map[string]string{}}
		if err := os.WriteFile(d.wrk.script, wrkScript, 0o644); err != nil {
			return err
		}
	}
	if want["ingester-s3"] || want["ingester-seg-s3"] {
		d.weedTB = newHarnessTB(d.root)
		err := d.weedTB.withHarness(func() { d.weed = harness.StartSeaweedFS(d.weedTB) })
		if err != nil {
			return fmt.Errorf("start SeaweedFS: %w", err)
		}
		// weed mini serves Prometheus metrics on its admin port whatever -admin.ui says (the S3
		// request counter there is how the S3 subjects' requests are counted), but opens that
		// port only some seconds after S3 serves.
		begin := time.Now()
		for {
			_, err := (&s3Bucket{metrics: d.weedMetricsURL()}).counts(ctx)
			if err == nil {
				break
			}
			if time.Since(begin) > time.Minute || ctx.Err() != nil {
				return fmt.Errorf("SeaweedFS metrics: %w", err)
			}
			time.Sleep(250 * time.Millisecond)
		}
		fmt.Fprintf(os.Stderr, "bench: SeaweedFS metrics at %s after %s\n", d.weedMetricsURL(), time.Since(begin).Round(time.Millisecond))
		d.weedPid = pidWithArg(fmt.Sprintf("-s3.port=%d", d.weed.Port("s3.port")))
	}
	return nil
}

// stopServices stops what prepare started besides the subjects.
func (d *runDir) stopServices() {
	if d.weedTB != nil {
		d.weedTB.close()
	}
}

func (d *runDir) weedMetricsURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/metrics", d.weed.Port("admin.port"))
}

func goBuild(ctx context.Context, repo, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = repo
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	return cmd.Run()
}

func fileIngester(extra ...string) func(context.Context, *runDir) (*launchSpec, error) {
	return func(_ context.Context, d *runDir) (*launchSpec, error) {
		lake := d.path(fmt.Sprintf("lake-%d", d.seq))
		if err := os.MkdirAll(lake, 0o755); err != nil {
			return nil, err
		}
		spec, err := ingesterSpec(d, "file://"+lake, extra)
		if err != nil {
			return nil, err
		}
		spec.dataDir = lake
		return spec, nil
	}
}

// s3Ingester stores in a new bucket of the bench's SeaweedFS. The admin keys reach the ingester
// in the standard AWS variables, which harness's Storage sets in the bench's environment.
func s3Ingester(extra ...string) func(context.Context, *runDir) (*launchSpec, error) {
	return func(_ context.Context, d *runDir) (*launchSpec, error) {
		var storage string
		if err := d.weedTB.withHarness(func() { storage = d.weed.Storage(d.weedTB) }); err != nil {
			return nil, err
		}
		u, err := url.Parse(storage)
		if err != nil {
			return nil, err
		}
		spec, err := ingesterSpec(d, storage, extra)
		if err != nil {
			return nil, err
		}
		spec.s3 = &s3Bucket{metrics: d.weedMetricsURL(), bucket: u.Host}
		return spec, nil
	}
}

func ingesterSpec(d *runDir, storage string, extra []string) (*launchSpec, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	admin, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{
		"--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--admin-listen", fmt.Sprintf("127.0.0.1:%d", admin),
		"--storage", storage,
		"--allow-anonymous",
	}
	if d.profileDir != "" {
		args = append(args, "--enable-pprof")
	}
	readyURL := fmt.Sprintf("http://127.0.0.1:%d/readyz", admin)
	spec := &launchSpec{
		cmd:   exec.Command(d.ingester, append(args, extra...)...),
		url:   fmt.Sprintf("http://127.0.0.1:%d/ingestion/otlp/v1/logs", port),
		ready: func(ctx context.Context) bool { return probe(ctx, http.MethodGet, readyURL, "") },
	}
	if d.profileDir != "" {
		spec.pprof = fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile", admin)
	}
	return spec, nil
}

// collectorTelemetry keeps the collector's own metrics endpoint from binding :8888 and spending
// CPU on self-observation the other subjects do not do.
const collectorTelemetry = `  telemetry:
    metrics:
      level: none
    logs:
      level: warn
`

func startCollector(_ context.Context, d *runDir) (*launchSpec, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
exporters:
  nop:
service:
%s  pipelines:
    logs:
      receivers: [otlp]
      exporters: [nop]
`, port, collectorTelemetry)
	return collectorSpec(d, cfg, port)
}

// startDurableCollector runs the Collector the durable way: otlp receiver → otlphttp exporter
// whose sending queue is persistent, on the file_storage extension with fsync: true, so a 200
// means the request is in the queue's bbolt file, synced. The nop exporter cannot be used: it
// has no sending queue (its config must not define one). The otlphttp exporter therefore sends
// to a sink, the bare server (its own process, outside this subject's CPU and RSS), uncompressed
// so that the Collector pays no gzip our other subjects do not pay either. The queue keeps its
// defaults (1,000 requests, 10 consumers): each enqueue and each dequeue is an fsync'd bbolt
// transaction, so under a closed loop the queue fills up to its drain rate, and the requests it
// then rejects ("sending queue is full") show as errors; its req/s is what it sustains durably.
func startDurableCollector(ctx context.Context, d *runDir) (*launchSpec, error) {
	sink, err := launch(ctx, d, subjectKind{name: "sink", start: startBare}, "sink")
	if err != nil {
		return nil, fmt.Errorf("start the sink: %w", err)
	}
	port, err := freePort()
	if err != nil {
		sink.stop()
		return nil, err
	}
	queue := d.path(fmt.Sprintf("otelcol-queue-%d", d.seq))
	if err := os.MkdirAll(queue, 0o755); err != nil {
		sink.stop()
		return nil, err
	}
	cfg := fmt.Sprintf(`extensions:
  file_storage:
    directory: %s
    fsync: true
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
exporters:
  otlp_http:
    logs_endpoint: %s
    compression: none
    sending_queue:
      enabled: true
      storage: file_storage
service:
  extensions: [file_storage]
%s  pipelines:
    logs:
      receivers: [otlp]
      exporters: [otlp_http]
`, queue, port, sink.url, collectorTelemetry)
	spec, err := collectorSpec(d, cfg, port)
	if err != nil {
		sink.stop()
		return nil, err
	}
	spec.cleanup = sink.stop
	return spec, nil
}

func collectorSpec(d *runDir, cfg string, port int) (*launchSpec, error) {
	cfgPath := d.path(fmt.Sprintf("otelcol-%d.yaml", d.seq))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	u := fmt.Sprintf("http://127.0.0.1:%d/v1/logs", port)
	return &launchSpec{
		cmd:   exec.Command(d.otelcol, "--config", cfgPath),
		url:   u,
		ready: func(ctx context.Context) bool { return probe(ctx, http.MethodPost, u, "application/x-protobuf") },
	}, nil
}

func startBare(_ context.Context, d *runDir) (*launchSpec, error) { return bareSpec(d) }

func startBareStore(_ context.Context, d *runDir) (*launchSpec, error) {
	lake := d.path(fmt.Sprintf("bare-store-%d", d.seq))
	if err := os.MkdirAll(lake, 0o755); err != nil {
		return nil, err
	}
	spec, err := bareSpec(d, "--storage", "file://"+lake)
	if err != nil {
		return nil, err
	}
	spec.dataDir = lake
	return spec, nil
}

func startDurableFloor(_ context.Context, d *runDir) (*launchSpec, error) {
	dir := d.path(fmt.Sprintf("floor-%d", d.seq))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	spec, err := bareSpec(d, "--append", filepath.Join(dir, "bodies.log"))
	if err != nil {
		return nil, err
	}
	spec.dataDir = dir
	return spec, nil
}

func bareSpec(d *runDir, extra ...string) (*launchSpec, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	u := fmt.Sprintf("http://127.0.0.1:%d/v1/logs", port)
	return &launchSpec{
		cmd:   exec.Command(d.bareserver, append([]string{"--listen", fmt.Sprintf("127.0.0.1:%d", port)}, extra...)...),
		url:   u,
		ready: func(ctx context.Context) bool { return probe(ctx, http.MethodPost, u, "application/x-protobuf") },
	}, nil
}

// s3Bucket counts one bucket's S3 requests from SeaweedFS's own counter,
// SeaweedFS_s3_request_total{type,code,bucket}, whose type is the request's action (PUT, GET,
// HEAD, LIST, DELETE, ...).
type s3Bucket struct {
	metrics string
	bucket  string
}

// counts returns the bucket's requests so far by action, all status codes together.
func (b *s3Bucket) counts(ctx context.Context) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.metrics, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", b.metrics, resp.Status)
	}
	const metric = "SeaweedFS_s3_request_total{"
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric) {
			continue
		}
		labels, value, ok := strings.Cut(line[len(metric):], "} ")
		if !ok {
			continue
		}
		l := promLabels(labels)
		if b.bucket != "" && l["bucket"] != b.bucket {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %v", b.metrics, line, err)
		}
		out[l["type"]] += v
	}
	return out, sc.Err()
}

// cpuProfile fetches a CPU profile of the next seconds from url into file.
func cpuProfile(ctx context.Context, url string, seconds int, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s?seconds=%d", url, seconds), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}

// pidWithArg finds the process that has arg in its command line (the harness keeps weed's
// process to itself; its S3 port flag names it).
func pidWithArg(arg string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for _, a := range bytes.Split(b, []byte{0}) {
			if string(a) == arg {
				return pid
			}
		}
	}
	return 0
}

// promLabels parses `a="x",b="y"` (label values here never hold quotes or commas).
func promLabels(s string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			m[k] = strings.Trim(v, `"`)
		}
	}
	return m
}

// freePort asks the kernel for an unused port. Another process could grab it
// before the subject binds; launch retries cover that unlikely race.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// probe sends an empty request; for POST an empty body is a valid, empty
// ExportLogsServiceRequest, which proves the OTLP route itself is serving.
func probe(ctx context.Context, method, url, contentType string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, http.NoBody)
	if err != nil {
		return false
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// process is a running subject.
type process struct {
	name    string
	url     string
	logPath string
	dataDir string    // what the subject wrote, if anything
	s3      *s3Bucket // where it stores, if on SeaweedFS
	pprof   string    // its CPU profile endpoint, if profiled
	cleanup func()    // stops what its start started besides it; may be nil
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process is gone
	waitErr error

	stopOnce sync.Once
	stopping atomic.Bool // set before we stop it on purpose

	rssMu   sync.Mutex
	rssPeak int64 // bytes, max VmRSS sampled
}

// registry remembers live children so an early exit (error, Ctrl-C) can
// still take them down.
type registry struct {
	mu    sync.Mutex
	procs map[*process]struct{}
}

func (r *registry) add(p *process) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.procs == nil {
		r.procs = map[*process]struct{}{}
	}
	r.procs[p] = struct{}{}
}

func (r *registry) remove(p *process) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.procs, p)
}

func (r *registry) stopAll() {
	r.mu.Lock()
	ps := make([]*process, 0, len(r.procs))
	for p := range r.procs {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	for _, p := range ps {
		p.stop()
	}
}

var children registry

const (
	readyTimeout  = 90 * time.Second
	launchRetries = 3
)

// launch starts a subject and waits until it serves. Port races and slow
// starts are retried; a process that keeps dying is a hard error.
func launch(ctx context.Context, d *runDir, kind subjectKind, tag string) (*process, error) {
	var lastErr error
	for attempt := 1; attempt <= launchRetries; attempt++ {
		d.seq++
		p, err := launchOnce(ctx, d, kind, tag)
		if err == nil {
			return p, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(os.Stderr, "bench: %s did not start (attempt %d): %v\n", kind.name, attempt, err)
	}
	return nil, lastErr
}

func launchOnce(ctx context.Context, d *runDir, kind subjectKind, tag string) (*process, error) {
	logPath := d.path(fmt.Sprintf("%s-%s-%d.log", kind.name, tag, d.seq))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	spec, err := kind.start(ctx, d)
	if err != nil {
		logf.Close()
		return nil, err
	}
	cmd, ready := spec.cmd, spec.ready
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Own process group: a terminal Ctrl-C reaches only the bench, which then
	// stops children in order. Pdeathsig covers the bench being SIGKILLed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		if spec.cleanup != nil {
			spec.cleanup()
		}
		return nil, err
	}
	p := &process{name: kind.name, url: spec.url, logPath: logPath, dataDir: spec.dataDir, s3: spec.s3, pprof: spec.pprof,
		cleanup: spec.cleanup, cmd: cmd, exited: make(chan struct{})}
	children.add(p)
	go func() {
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()

	deadline := time.Now().Add(readyTimeout)
	for {
		if ready(ctx) {
			p.startRSSSampler()
			return p, nil
		}
		select {
		case <-p.exited:
			p.stop()
			return nil, fmt.Errorf("exited before ready (%v); log: %s\n%s", p.waitErr, logPath, tail(logPath, 15))
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("not ready after %s; log: %s\n%s", readyTimeout, logPath, tail(logPath, 15))
		}
	}
}

// crashed reports whether the process went away without being asked to.
func (p *process) crashed() bool {
	select {
	case <-p.exited:
		return !p.stopping.Load()
	default:
		return false
	}
}

// stop asks politely first, so a subject can finish writes and exit
// cleanly, then kills the whole process group if it lingers.
func (p *process) stop() {
	p.stopOnce.Do(p.doStop)
}

func (p *process) doStop() {
	p.stopping.Store(true)
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.exited
	}
	// Helpers the subject may have spawned in its group go too.
	_ = syscall.Kill(pgid, syscall.SIGKILL)
	children.remove(p)
	if p.cleanup != nil {
		p.cleanup()
	}
}

// startRSSSampler polls VmRSS during the run. VmHWM read at the end is the
// exact lifetime peak; the samples are the fallback when the process dies
// before the end or the kernel does not report VmHWM.
func (p *process) startRSSSampler() {
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if v, ok := procStatus(p.cmd.Process.Pid, "VmRSS"); ok {
				p.rssMu.Lock()
				p.rssPeak = max(p.rssPeak, v)
				p.rssMu.Unlock()
			}
			select {
			case <-p.exited:
				return
			case <-t.C:
			}
		}
	}()
}

// peakRSS must be called while the process is still alive. It returns the
// kernel's high-water mark, which also catches spikes between samples.
func (p *process) peakRSS() int64 {
	hwm, _ := procStatus(p.cmd.Process.Pid, "VmHWM")
	p.rssMu.Lock()
	defer p.rssMu.Unlock()
	return max(hwm, p.rssPeak)
}

// procCPU returns the user+system CPU time consumed so far by all threads
// of pid. /proc reports clock ticks in USER_HZ, which Linux fixes at 100 for
// userspace whatever the kernel's internal tick rate.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name may contain spaces and parentheses; fields are
	// unambiguous only after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	fs := strings.Fields(string(b[i+1:]))
	// After ')': state is field 3 of the man page, utime 14, stime 15.
	if len(fs) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(fs[11], 10, 64)
	stime, err2 := strconv.ParseInt(fs[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * (time.Second / 100), true
}

// selfCPU is the CPU time of the bench and of its children already waited for: the load
// generator (the bench itself, or a wrk run that ended) competes with the subject for the same
// cores, and the report says how much it took. Between two readings around a wrk run, only that
// run is waited for, as subjects are still running.
func selfCPU() time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if err := syscall.Getrusage(who, &ru); err == nil {
			total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return total
}

// procStatus reads a "kB" field of /proc/<pid>/status, in bytes.
func procStatus(pid int, field string) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			return 0, false
		}
		n, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			return 0, false
		}
		return n << 10, true
	}
	return 0, false
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
