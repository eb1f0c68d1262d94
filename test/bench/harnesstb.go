package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// harnessTB lets the bench, a plain program, start services with test/harness (SeaweedFS is
// started exactly as the tests start it: one home for how that is done), whose starters take a
// testing.TB. It implements every method of testing.TB; the embedded nil TB is there only
// because the interface has an unexported method that no type outside package testing can
// define. Fatal and Skip end the harness call (withHarness turns them into an error): the bench
// never counts a skipped start as a started service.
type harnessTB struct {
	testing.TB
	dir string // parent of TempDir's directories

	mu       sync.Mutex
	cleanups []func()
	temps    int
	failed   bool
}

// harnessFailure is what FailNow panics with; withHarness turns it back into an error.
type harnessFailure struct{ msg string }

func newHarnessTB(dir string) *harnessTB { return &harnessTB{dir: dir} }

// withHarness runs fn, returning a harness failure (Fatal) as an error.
func (t *harnessTB) withHarness(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(harnessFailure)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("harness: %s", f.msg)
		}
	}()
	fn()
	return nil
}

// close runs the cleanups, last registered first, as the testing package does.
func (t *harnessTB) close() {
	t.mu.Lock()
	cs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

func (t *harnessTB) Helper()                  {}
func (t *harnessTB) Name() string             { return "bench" }
func (t *harnessTB) Context() context.Context { return context.Background() }
func (t *harnessTB) Log(args ...any)          { fmt.Fprintln(os.Stderr, append([]any{"bench:"}, args...)...) }
func (t *harnessTB) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
func (t *harnessTB) Error(args ...any)                 { t.Log(args...); t.Fail() }
func (t *harnessTB) Errorf(format string, args ...any) { t.Logf(format, args...); t.Fail() }
func (t *harnessTB) Fatal(args ...any)                 { t.fatal(fmt.Sprint(args...)) }
func (t *harnessTB) Fatalf(format string, args ...any) { t.fatal(fmt.Sprintf(format, args...)) }
func (t *harnessTB) Skip(args ...any)                  { t.fatal("skipped: " + fmt.Sprint(args...)) }
func (t *harnessTB) Skipf(format string, args ...any) {
	t.fatal("skipped: " + fmt.Sprintf(format, args...))
}
func (t *harnessTB) SkipNow()                 { t.fatal("skipped") }
func (t *harnessTB) Skipped() bool            { return false }
func (t *harnessTB) FailNow()                 { t.fatal("FailNow") }
func (t *harnessTB) Setenv(key, value string) { os.Setenv(key, value) }
func (t *harnessTB) Chdir(dir string)         { t.fatal("the bench never changes directory") }
func (t *harnessTB) Attr(key, value string)   {}
func (t *harnessTB) Output() io.Writer        { return os.Stderr }
func (t *harnessTB) ArtifactDir() string      { return t.TempDir() }

func (t *harnessTB) Fail() {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
}

func (t *harnessTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

func (t *harnessTB) fatal(msg string) {
	t.Fail()
	panic(harnessFailure{msg})
}

func (t *harnessTB) Cleanup(f func()) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, f)
	t.mu.Unlock()
}

// TempDir is a new directory under the bench's work dir, removed with it.
func (t *harnessTB) TempDir() string {
	t.mu.Lock()
	t.temps++
	n := t.temps
	t.mu.Unlock()
	d := filepath.Join(t.dir, fmt.Sprintf("harness-%d", n))
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.fatal(err.Error())
	}
	return d
}
