// Package harness starts real third-party services (SeaweedFS, …) on
// 127.0.0.1 for integration tests.
//
// The binaries are built from the Go module proxy and cached by version by
// hack/tools.sh; Tool runs that script, so the first test run on a fresh
// machine pays the build (e.g. ~4–7 min for weed) and later runs start at once.
package harness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// toolResult is the outcome of one `hack/tools.sh NAME` run, shared by every
// caller in this process.
type toolResult struct {
	once sync.Once
	path string
	err  error
}

var (
	toolsMu sync.Mutex
	tools   = map[string]*toolResult{}
)

// Tool returns the absolute path of the pinned binary NAME (as known to
// hack/tools.sh), building it first if it is not cached yet. It fails the test
// with the script's stderr if that does not work. The script runs at most once
// per tool and process; concurrent processes are serialised by the script's
// own file locks.
func Tool(t testing.TB, name string) string {
	t.Helper()
	toolsMu.Lock()
	r, ok := tools[name]
	if !ok {
		r = &toolResult{}
		tools[name] = r
	}
	toolsMu.Unlock()

	r.once.Do(func() { r.path, r.err = runToolsScript(name) })
	if r.err != nil {
		t.Fatalf("harness: tool %s: %v", name, r.err)
	}
	return r.path
}

func runToolsScript(name string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("bash", filepath.Join(root, "hack", "tools.sh"), name)
	cmd.Dir = root
	cmd.Stdout = &stdout
	// A first build takes minutes: with -v, show the script's progress live.
	cmd.Stderr = &stderr
	if testing.Verbose() {
		cmd.Stderr = io.MultiWriter(&stderr, os.Stderr)
	}
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/tools.sh %s: %v\n%s", name, err, stderr.String())
	}
	path := strings.TrimSpace(stdout.String())
	if i := strings.LastIndexByte(path, '\n'); i >= 0 {
		path = path[i+1:]
	}
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("hack/tools.sh %s printed %q, not an absolute path\n%s", name, stdout.String(), stderr.String())
	}
	return path, nil
}

// RepoRoot returns the repository root: the nearest directory at or above this
// package's source directory (or, if sources were built with -trimpath, the
// working directory) that holds both go.mod and hack/tools.sh.
func RepoRoot() (string, error) {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for {
			if isFile(filepath.Join(dir, "go.mod")) && isFile(filepath.Join(dir, "hack", "tools.sh")) {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", errors.New("harness: repository root (go.mod + hack/tools.sh) not found above " + strings.Join(starts, " or "))
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// ReadFile reads a file of the repository a test checks, failing the test if it cannot.
func ReadFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
