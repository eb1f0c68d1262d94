package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// wrkScript makes every request distinct (see its header).
//
//go:embed wrk.lua
var wrkScript []byte

// The Go load generator (load.go) tops out at ~20k req/s against bare net/http on this 2-core
// machine, where wrk (C, one event loop per thread, LuaJIT building each request from two
// prebuilt strings) reaches ~37k (issue 12): with the Go generator, the faster subjects were
// measured against the generator's ceiling. wrk is therefore the default, and the report keeps
// one row of bare measured with the Go generator to show the difference on the day.
func wrkPath() (string, error) {
	p, err := exec.LookPath("wrk")
	if err != nil {
		return "", errors.New("wrk not found: the bench's default load generator is the Debian package wrk (apt-get install wrk), or run with -loadgen go")
	}
	return p, nil
}

// wrkFiles are written once per bench run: the script and each payload's template body.
type wrkFiles struct {
	bin    string
	script string
	bodies map[string]string // payload name -> file
}

func (w *wrkFiles) body(d *runDir, p *payload) (string, error) {
	if f, ok := w.bodies[p.name]; ok {
		return f, nil
	}
	f := d.path("body-" + p.name + ".bin")
	if err := os.WriteFile(f, p.body, 0o644); err != nil {
		return "", err
	}
	w.bodies[p.name] = f
	return f, nil
}

// runWrk is runLoad with wrk: a warm-up run, then the measured run, each with fresh workers
// (so no body repeats), with the window edges at the measured run's start and end.
func runWrk(ctx context.Context, w *wrkFiles, bodyFile string, cfg loadConfig) (*loadResult, error) {
	threads := max(1, min(cfg.concurrency, runtime.NumCPU()))
	res := &loadResult{concurrency: cfg.concurrency}
	firstWorker := 0
	if cfg.warmup > 0 {
		warm, err := wrkOnce(ctx, w, bodyFile, cfg, threads, cfg.warmup, firstWorker)
		if err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		res.warmupErrs = warm.failed
		res.allOK += warm.ok
		firstWorker += threads
	}
	if cfg.atWindowEdge != nil {
		cfg.atWindowEdge()
	}
	m, err := wrkOnce(ctx, w, bodyFile, cfg, threads, cfg.duration, firstWorker)
	if cfg.atWindowEdge != nil {
		cfg.atWindowEdge()
	}
	if err != nil {
		return nil, err
	}
	n := int64(len(cfg.payload.body))
	res.window = m.window
	res.ok = m.ok
	res.errors = m.failed
	res.bytes = int64(m.ok) * n
	res.allOK += m.ok
	res.allBytes = int64(res.allOK) * n
	res.fixed = map[float64]time.Duration{50: m.p50, 99: m.p99}
	if m.failed > 0 {
		res.firstErr = m.errText
	}
	return res, nil
}

type wrkRun struct {
	ok, failed int
	window     time.Duration
	p50, p99   time.Duration
	errText    string
}

func wrkOnce(ctx context.Context, w *wrkFiles, bodyFile string, cfg loadConfig, threads int, d time.Duration, firstWorker int) (*wrkRun, error) {
	secs := max(1, int((d+time.Second/2)/time.Second))
	cmd := exec.CommandContext(ctx, w.bin,
		"-t", strconv.Itoa(threads), "-c", strconv.Itoa(cfg.concurrency), "-d", fmt.Sprintf("%ds", secs),
		// wrk counts a request slower than its timeout (2 s by default) as an error; the Go
		// generator waits up to 60 s, and so does this.
		"--timeout", "60s",
		"-s", w.script, cfg.url, "--",
		bodyFile, strconv.Itoa(cfg.payload.stampOffset), strconv.FormatUint(cfg.payload.baseTime, 10), strconv.Itoa(firstWorker))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("wrk: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	var line string
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "WRK_RESULT ") {
			line = sc.Text()
		}
	}
	if line == "" {
		return nil, fmt.Errorf("wrk printed no result:\n%s%s", stdout.String(), stderr.String())
	}
	v := map[string]int64{}
	for _, f := range strings.Fields(line)[1:] {
		k, s, _ := strings.Cut(f, "=")
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("wrk result %q: %v", line, err)
		}
		v[k] = n
	}
	r := &wrkRun{
		ok:     int(v["requests"] - v["status"]),
		failed: int(v["status"] + v["connect"] + v["read"] + v["write"] + v["timeout"]),
		window: time.Duration(v["duration_us"]) * time.Microsecond,
		p50:    time.Duration(v["p50_us"]) * time.Microsecond,
		p99:    time.Duration(v["p99_us"]) * time.Microsecond,
	}
	if r.failed > 0 {
		r.errText = fmt.Sprintf("wrk: %d non-2xx/3xx answers, %d connect, %d read, %d write errors, %d timeouts",
			v["status"], v["connect"], v["read"], v["write"], v["timeout"])
	}
	return r, nil
}

// wrkVersion is the first line of `wrk -v` ("wrk 4.1.0 [epoll] ..."), trimmed of the copyright.
func wrkVersion(bin string) string {
	out, _ := exec.Command(bin, "-v").CombinedOutput() // wrk -v exits 1
	line, _, _ := strings.Cut(string(out), "\n")
	if i := strings.Index(line, " Copyright"); i > 0 {
		line = line[:i]
	}
	if line = strings.TrimSpace(line); line != "" {
		return line
	}
	return bin
}
