//go:build cgo

package lakehouse

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/telemetrylake/telemetrylake/test/harness"
)

// TestAMaterializationKilledHalfwayLeavesNothingToCountTwice runs the real binary, kills it with
// SIGKILL once its first part has landed, and reruns it: the rerun finishes the job, and every
// block is counted once throughout.
// It pins docs/contracts/lakehouse.md §2.
func TestAMaterializationKilledHalfwayLeavesNothingToCountTwice(t *testing.T) {
	bin := buildLakehouse(t)
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

var lakehouseCommand harness.Command

// buildLakehouse builds lakehouse/cmd/lakehouse, in its own module, with cgo for DuckDB.
func buildLakehouse(t *testing.T) string {
	return lakehouseCommand.Build(t, "lakehouse", "./cmd/lakehouse", "CGO_ENABLED=1", "-tags", "duckdb_arrow")
}

// TestACompactionKilledBeforeItDeletesLeavesNothingToCountTwice stops the real binary with
// SIGKILL once its merged parts are durable and before it deletes the parts they replace (its
// --grace holds it there), then lets the next compaction finish the job.
// It pins docs/contracts/lakehouse.md §2.
func TestACompactionKilledBeforeItDeletesLeavesNothingToCountTwice(t *testing.T) {
	bin := buildLakehouse(t)
	l := startLake(t)
	const hours, rounds = 3, 3
	r := newCompactionRig(t, l, hours, rounds)
	for round := range rounds {
		r.materializeUpTo(t, round)
	}
	window := []string{"--storage", l.Storage, "--since", r.window.Since.Format(time.RFC3339), "--until", r.window.Until.Format(time.RFC3339)}
	count := func(t *testing.T) {
		t.Helper()
		got := l.one(t, `SELECT count(*) AS n, count(DISTINCT block_id) AS blocks FROM log_entries`, window[2:]...)
		if got["n"] != float64(r.rows) || got["blocks"] != float64(r.blocks) {
			t.Errorf("%v, want %d rows from %d blocks", got, r.rows, r.blocks)
		}
	}
	before := len(l.keys(t, "tables/"))
	const tableHours = 2 * hours // log_entries and processes

	cmd := exec.Command(bin, append([]string{"compact", "--grace", "1h", "--cache", t.TempDir()}, window...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan string, 1)
	go func() {
		var seen strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "before deleting") {
				waiting <- ""
				io.Copy(io.Discard, stderr)
				return
			}
		}
		waiting <- seen.String()
	}()
	select {
	case out := <-waiting:
		if out != "" {
			t.Fatalf("compact ended without reaching its deletions:\n%s", out)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("compact did not reach its deletions within a minute")
	}
	cmd.Process.Kill() // SIGKILL
	cmd.Wait()

	t.Run("the merged parts landed beside the parts they replace, and queries count once", func(t *testing.T) {
		if got := len(l.keys(t, "tables/")); got != before+tableHours {
			t.Errorf("%d parts after the kill, want the %d there before and %d merged ones", got, before, tableHours)
		}
		count(t)
		if s := l.session(t, r.window.Since).Stats; s.Parts != 2 || s.PartsSkipped != 2*rounds {
			t.Errorf("stats of the first hour %+v: want the 2 merged parts read and the %d they replace skipped", s, 2*rounds)
		}
	})

	t.Run("the next compaction only deletes", func(t *testing.T) {
		out, err := exec.Command(bin, append([]string{"compact", "--cache", t.TempDir()}, window...)...).CombinedOutput()
		want := fmt.Sprintf("compacted  %d table hours: 0 parts written, %d already there, %d replaced parts deleted", tableHours, tableHours, tableHours*rounds)
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("rerun (%v):\n%s\nwant %q", err, out, want)
		}
		for _, table := range []string{"log_entries", "processes"} {
			for dir, n := range partsPerHour(t, l, table) {
				if n != 1 {
					t.Errorf("%s has %d parts, want 1", dir, n)
				}
			}
		}
		count(t)
	})

	t.Run("and the one after does nothing", func(t *testing.T) {
		out, err := exec.Command(bin, append([]string{"compact", "--cache", t.TempDir()}, window...)...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "compacted  0 table hours: 0 parts written, 0 already there, 0 replaced parts deleted") {
			t.Errorf("a third run did work (%v):\n%s", err, out)
		}
	})
}
