//go:build cgo

package lakehouse

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telemetrylake/telemetrylake/test/harness"
)

// TestAMaterializationKilledHalfwayLeavesNothingToCountTwice runs the real binary, kills it with
// SIGKILL once its first part has landed, and reruns it: the rerun finishes the job, and every
// block is counted once throughout.
func TestAMaterializationKilledHalfwayLeavesNothingToCountTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the lakehouse binary")
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "lakehouse")
	build := exec.Command("go", "build", "-o", bin, "./ingester/lakehouse/cmd/lakehouse")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	l := startLake(t)
	first := time.Now().UTC().Add(-10 * time.Hour).Truncate(time.Hour)
	const hours, blocks, perBlock = 6, 10, 2000
	for h := range hours {
		benchBlocks(t, l.Store, first.Add(time.Duration(h)*time.Hour), blocks, perBlock)
	}
	window := []string{"--storage", l.Storage, "--since", first.Format(time.RFC3339), "--until", first.Add(hours * time.Hour).Format(time.RFC3339)}
	count := func() float64 {
		return l.one(t, `SELECT count(*) AS n FROM log_entries`, window[2:]...)["n"].(float64)
	}
	const want = hours * blocks * perBlock
	if got := count(); got != want {
		t.Fatalf("%v rows before materializing, want %d", got, want)
	}

	cmd := exec.Command(bin, append([]string{"materialize", "--cache", t.TempDir()}, window...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(l.keys(t, "tables/log_entries/")) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill() // SIGKILL
	cmd.Wait()
	landed := len(l.keys(t, "tables/log_entries/"))
	t.Logf("killed after %d of %d hours' log_entries parts had landed", landed, hours)
	if landed == 0 || landed == hours {
		t.Logf("the kill did not land halfway (%d parts); the test still checks the counts", landed)
	}
	if got := count(); got != want {
		t.Errorf("%v rows after the kill, want %d", got, want)
	}

	out, err := exec.Command(bin, append([]string{"materialize", "--cache", t.TempDir()}, window...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	if got := len(l.keys(t, "tables/log_entries/")); got != hours {
		t.Errorf("%d log_entries parts after the rerun, want one per hour (%d):\n%s", got, hours, out)
	}
	if got := count(); got != want {
		t.Errorf("%v rows after the rerun, want %d", got, want)
	}
	out, err = exec.Command(bin, append([]string{"materialize", "--cache", t.TempDir()}, window...)...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "parts      0 written, 0 already there") {
		t.Errorf("a third run still found work (%v):\n%s", err, out)
	}
}
