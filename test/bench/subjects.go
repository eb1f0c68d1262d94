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
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// subjectKind knows how to launch one of the servers under test. Every
// launch gets fresh ports and, for the ingester, a fresh lake, so runs do
// not inherit each other's state (heap, files, dedup index).
type subjectKind struct {
	name string
	// start prepares the command (not yet started); it returns the export URL,
	// a readiness probe to poll and the data directory the run may fill.
	start func(d *runDir) (cmd *exec.Cmd, url string, ready func(context.Context) bool, dataDir string, err error)
}

// runDir holds everything a bench invocation creates on disk.
type runDir struct {
	root       string // temp dir: logs, configs, lakes, the bare server binary
	repo       string // repository root
	ingester   string // binary paths, resolved during preparation
	otelcol    string
	bareserver string
	seq        int           // distinguishes per-run files
	createCost time.Duration // of an empty file in root (see createCost)
}

func (d *runDir) path(name string) string { return filepath.Join(d.root, name) }

var subjectKinds = map[string]subjectKind{
	"ingester": {name: "ingester", start: startIngester},
	// ingester-seg is the same binary with storage v2: blocks in group-committed segments.
	"ingester-seg": {name: "ingester-seg", start: startSegmentIngester},
	"collector":    {name: "collector", start: startCollector},
	"bare":         {name: "bare", start: startBare},
	// bare-store is the bare server storing each body as the ingester stores a block: the
	// storage contract's own cost, which bounds any ingester that keeps it.
	"bare-store": {name: "bare-store", start: startBareStore},
}

var subjectOrder = []string{"ingester", "ingester-seg", "collector", "bare", "bare-store"}

// prepare builds or locates the binaries of the chosen subjects up front, so
// a broken build fails the bench before any time is spent measuring.
func prepare(ctx context.Context, d *runDir, want map[string]bool, ingesterBin, otelcolBin string) error {
	if want["bare"] || want["bare-store"] {
		d.bareserver = d.path("bareserver")
		if err := goBuild(ctx, d.repo, d.bareserver, "./test/bench/bareserver"); err != nil {
			return fmt.Errorf("build bare server: %w", err)
		}
	}
	if want["ingester"] || want["ingester-seg"] {
		if ingesterBin != "" {
			d.ingester = ingesterBin
		} else {
			d.ingester = filepath.Join(d.repo, "bin", "ingester")
			if err := goBuild(ctx, d.repo, d.ingester, "./cmd/ingester"); err != nil {
				return fmt.Errorf("build ingester: %w", err)
			}
		}
	}
	if want["collector"] {
		if otelcolBin != "" {
			d.otelcol = otelcolBin
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
	return nil
}

func goBuild(ctx context.Context, repo, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = repo
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	return cmd.Run()
}

func startIngester(d *runDir) (*exec.Cmd, string, func(context.Context) bool, string, error) {
	return startIngesterWith(d, "--layout", "blocks")
}

func startSegmentIngester(d *runDir) (*exec.Cmd, string, func(context.Context) bool, string, error) {
	return startIngesterWith(d)
}

func startIngesterWith(d *runDir, extra ...string) (*exec.Cmd, string, func(context.Context) bool, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", nil, "", err
	}
	admin, err := freePort()
	if err != nil {
		return nil, "", nil, "", err
	}
	lake := d.path(fmt.Sprintf("lake-%d", d.seq))
	if err := os.MkdirAll(lake, 0o755); err != nil {
		return nil, "", nil, "", err
	}
	cmd := exec.Command(d.ingester, append([]string{
		"--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--admin-listen", fmt.Sprintf("127.0.0.1:%d", admin),
		"--storage", "file://" + lake,
		"--allow-anonymous",
	}, extra...)...)
	readyURL := fmt.Sprintf("http://127.0.0.1:%d/readyz", admin)
	ready := func(ctx context.Context) bool { return probe(ctx, http.MethodGet, readyURL, "") }
	return cmd, fmt.Sprintf("http://127.0.0.1:%d/ingestion/otlp/v1/logs", port), ready, lake, nil
}

func startCollector(d *runDir) (*exec.Cmd, string, func(context.Context) bool, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", nil, "", err
	}
	// The collector's own metrics endpoint would otherwise bind :8888 and
	// spend CPU on self-observation the other subjects do not do.
	cfg := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
exporters:
  nop:
service:
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [nop]
`, port)
	cfgPath := d.path(fmt.Sprintf("otelcol-%d.yaml", d.seq))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, "", nil, "", err
	}
	cmd := exec.Command(d.otelcol, "--config", cfgPath)
	url := fmt.Sprintf("http://127.0.0.1:%d/v1/logs", port)
	ready := func(ctx context.Context) bool { return probe(ctx, http.MethodPost, url, "application/x-protobuf") }
	return cmd, url, ready, "", nil
}

func startBare(d *runDir) (*exec.Cmd, string, func(context.Context) bool, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", nil, "", err
	}
	cmd := exec.Command(d.bareserver, "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	url := fmt.Sprintf("http://127.0.0.1:%d/v1/logs", port)
	ready := func(ctx context.Context) bool { return probe(ctx, http.MethodPost, url, "application/x-protobuf") }
	return cmd, url, ready, "", nil
}

func startBareStore(d *runDir) (*exec.Cmd, string, func(context.Context) bool, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", nil, "", err
	}
	lake := d.path(fmt.Sprintf("bare-store-%d", d.seq))
	if err := os.MkdirAll(lake, 0o755); err != nil {
		return nil, "", nil, "", err
	}
	cmd := exec.Command(d.bareserver, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--storage", "file://"+lake)
	url := fmt.Sprintf("http://127.0.0.1:%d/v1/logs", port)
	ready := func(ctx context.Context) bool { return probe(ctx, http.MethodPost, url, "application/x-protobuf") }
	return cmd, url, ready, lake, nil
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
	dataDir string // what the subject wrote, if anything
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
	cmd, url, ready, dataDir, err := kind.start(d)
	if err != nil {
		logf.Close()
		return nil, err
	}
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Own process group: a terminal Ctrl-C reaches only the bench, which then
	// stops children in order. Pdeathsig covers the bench being SIGKILLed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &process{name: kind.name, url: url, logPath: logPath, dataDir: dataDir, cmd: cmd, exited: make(chan struct{})}
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
			children.remove(p)
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

// selfCPU is the bench's own CPU time: the load generator competes with the
// subject for the same cores, and the report says how much it took.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
