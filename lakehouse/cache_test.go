//go:build cgo

package lakehouse

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lakehouse/parts"
)

// TestThePartCacheKeepsToItsBound: each run deletes the least recently used cached parts beyond
// the bound, never one it is reading, and nothing in the cache directory that is not its own.
// It pins docs/contracts/lakehouse.md §2, the part cache.
func TestThePartCacheKeepsToItsBound(t *testing.T) {
	l := startLake(t)
	ctx := context.Background()
	first := time.Now().UTC().Add(-9 * time.Hour).Truncate(time.Hour)
	// Two hours apart: a query also reads the hour before its window (lookback).
	hours := []time.Time{first, first.Add(2 * time.Hour), first.Add(4 * time.Hour)}
	for i, h := range hours {
		post(t, l.URL+"/v1/logs", logsRequest(t, fmt.Sprintf("svc-%d", i), h.Add(10*time.Minute), 50))
	}
	w := parts.Window{Since: first, Until: first.Add(5 * time.Hour)}
	if _, err := Materialize(ctx, MaterializeOptions{Store: l.Store, Window: w, CacheDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}

	cache := t.TempDir()
	foreign := []string{filepath.Join(cache, "notes.txt"), filepath.Join(cache, "log_entries", "notes.txt")}
	for _, f := range foreign {
		os.MkdirAll(filepath.Dir(f), 0o755)
		if err := os.WriteFile(f, make([]byte, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// cachedHours lists the hours whose log part is in the cache.
	cachedHours := func() []int {
		var got []int
		for i, h := range hours {
			var ref layout.PartRef
			for _, k := range l.keys(t, layout.PartHourDir("log_entries", h)+"/") {
				ref, _ = layout.ParsePartKey(k)
			}
			if _, err := os.Stat(filepath.Join(cache, ref.Table, ref.Name+layout.PartSuffix)); err == nil {
				got = append(got, i)
			}
		}
		return got
	}
	var bound int64 // set from the size of one hour's parts, once they are cached
	query := func(hs ...int) {
		t.Helper()
		since, until := hours[hs[0]], hours[hs[len(hs)-1]].Add(time.Hour)
		s, err := Open(ctx, QueryOptions{Store: l.Store, Window: parts.Window{Since: since, Until: until}, CacheDir: cache, CacheMaxBytes: bound})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var n int
		if err := s.e.conn.QueryRowContext(ctx, "SELECT count(*) FROM log_entries").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 50*len(hs) || s.Stats.FreshBlocks != 0 {
			t.Fatalf("hours %v: %d rows (%d decoded afresh), want %d, all from parts", hs, n, s.Stats.FreshBlocks, 50*len(hs))
		}
	}
	query(0)
	var hourBytes int64
	filepath.WalkDir(cache, func(p string, d os.DirEntry, err error) error {
		if info, err := d.Info(); err == nil && !d.IsDir() && filepath.Ext(p) == layout.PartSuffix {
			hourBytes += info.Size()
		}
		return nil
	})
	bound = 2*hourBytes + hourBytes/2 // room for two hours' parts, not three
	// Modification times are the marks of use; a step between runs keeps their order clear.
	step := func() { time.Sleep(20 * time.Millisecond) }

	step()
	query(1)
	step()
	query(0) // hour 0 is now the most recently used
	step()
	query(2) // three hours do not fit: hour 1, the least recently used, goes
	if got := cachedHours(); !slices.Equal(got, []int{0, 2}) {
		t.Errorf("cached hours after using 1, 0, then 2 under a two-hour bound: %v, want [0 2]", got)
	}
	step()
	query(0, 1, 2) // a run keeps every part it reads, even beyond the bound
	if got := cachedHours(); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("cached hours while all three are read: %v, want [0 1 2]", got)
	}
	for _, f := range foreign {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("a file the cache does not own is gone: %v", err)
		}
	}
}
