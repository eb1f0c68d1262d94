package harness

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Command is a real command of the repository, built once per test binary so that tests can run
// it as users do: SIGKILL it, or measure its memory.
type Command struct {
	once sync.Once
	bin  string
	err  error
}

// Build runs go build of pkg in the module at moduleDir (relative to the repository's root),
// with cgo set as given ("CGO_ENABLED=0" or "=1"), once, and returns the binary's path.
func (c *Command) Build(t testing.TB, moduleDir, pkg, cgo string, flags ...string) string {
	t.Helper()
	c.once.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			c.err = err
			return
		}
		dir, err := os.MkdirTemp("", filepath.Base(pkg)+"-bin-")
		if err != nil {
			c.err = err
			return
		}
		bin := filepath.Join(dir, filepath.Base(pkg))
		build := exec.Command("go", append(append([]string{"build"}, flags...), "-o", bin, pkg)...)
		build.Dir, build.Env = filepath.Join(root, moduleDir), append(os.Environ(), cgo)
		if out, err := build.CombinedOutput(); err != nil {
			c.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
			return
		}
		c.bin = bin
	})
	if c.err != nil {
		t.Fatal(c.err)
	}
	return c.bin
}

var ingesterCommand Command

// BuildIngester builds the static ingester, cmd/ingester, once per test binary.
func BuildIngester(t testing.TB) string {
	return ingesterCommand.Build(t, ".", "./cmd/ingester", "CGO_ENABLED=0")
}

// IngesterProcess is the ingester binary running on 127.0.0.1, anonymous.
type IngesterProcess struct {
	// URL is the OTLP/HTTP base, such as http://127.0.0.1:1234; the signals are under /v1/.
	URL string
	Cmd *exec.Cmd
}

// StartIngesterProcess runs the ingester binary on 127.0.0.1 with anonymous access, writing into
// storage, and waits until it is ready. env is added to the test's environment. It is killed
// when the test ends, unless the test stopped it first.
func StartIngesterProcess(t testing.TB, bin, storage string, flags []string, env ...string) *IngesterProcess {
	t.Helper()
	ports := FreePorts(t, 2)
	admin := fmt.Sprintf("127.0.0.1:%d", ports[1])
	cmd := exec.Command(bin, append([]string{
		"--listen", fmt.Sprintf("127.0.0.1:%d", ports[0]), "--admin-listen", admin,
		"--storage", storage, "--allow-anonymous", "--log-level", "warn",
	}, flags...)...)
	cmd.Stderr = LogWriter(t)
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	WaitFor(t, 20*time.Second, "the ingester to be ready", func() bool {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return &IngesterProcess{URL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), Cmd: cmd}
}

// PeakRSS is the most resident memory the process has had (VmHWM), in bytes.
func PeakRSS(t testing.TB, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// RemoveBuilt deletes what the given commands and BuildIngester built, for a TestMain to call
// once the tests are over.
func RemoveBuilt(cmds ...*Command) {
	for _, c := range append(cmds, &ingesterCommand) {
		if c.bin != "" {
			os.RemoveAll(filepath.Dir(c.bin))
		}
	}
}
