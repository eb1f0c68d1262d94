//go:build cgo

package lakehouse

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/lakehouse/parts"
	"github.com/telemetrylake/telemetrylake/lakehouse/rows"
)

// partCache keeps local copies of parts, keyed by table and part name. DuckDB reads only these
// local files (httpfs is not available here, and S3 credentials stay with the Store). A part is
// content-addressed and written once, so a cached copy never goes stale and is never refreshed.
//
// The cache is bounded: each run, once it has the parts it needs, deletes the least recently used
// others until the cache fits in maxBytes. A file's modification time is its last use.
type partCache struct {
	dir      string
	maxBytes int64
}

// DefaultCacheMaxBytes bounds the part cache unless --cache-max-bytes says otherwise.
const DefaultCacheMaxBytes = 10 << 30

// newPartCache opens the cache in dir ("" is DefaultCacheDir()) bounded by maxBytes (0 is
// DefaultCacheMaxBytes).
func newPartCache(dir string, maxBytes int64) *partCache {
	if dir == "" {
		dir = DefaultCacheDir()
	}
	if maxBytes <= 0 {
		maxBytes = DefaultCacheMaxBytes
	}
	return &partCache{dir: dir, maxBytes: maxBytes}
}

// DefaultCacheDir is where parts are cached unless --cache says otherwise.
func DefaultCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "telemetrylake", "parts")
	}
	return filepath.Join(os.TempDir(), "telemetrylake-parts")
}

func (c *partCache) path(ref layout.PartRef) string {
	return filepath.Join(c.dir, ref.Table, ref.Name+layout.PartSuffix)
}

// put stores a part's bytes under its name: a temp file renamed into place, so that a run killed
// halfway never leaves a short file that a later run would trust.
func (c *partCache) put(ref layout.PartRef, data []byte) (string, error) {
	final := c.path(ref)
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return "", fmt.Errorf("part cache: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(final), ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("part cache: %w", err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), final)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("part cache: %w", err)
	}
	return final, nil
}

// fetch makes sure every part is cached, downloading the missing ones a few at a time, and
// returns the local path of each by key.
func (c *partCache) fetch(ctx context.Context, st store.Store, refs []layout.PartRef) (map[string]string, error) {
	local := make(map[string]string, len(refs))
	var missing []layout.PartRef
	now := time.Now()
	for _, ref := range refs {
		p := c.path(ref)
		// Touching a cached part is both the check that it is there and its mark of use.
		if err := os.Chtimes(p, now, now); err == nil {
			local[ref.Key] = p
		} else if errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, ref)
		} else {
			return nil, fmt.Errorf("part cache: %w", err)
		}
	}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan layout.PartRef)
	)
	for range min(fetchWorkers, len(missing)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ref := range next {
				data, _, err := st.Get(ctx, ref.Key)
				var p string
				if err != nil {
					err = storeErr(fmt.Errorf("read part %s: %w", ref.Key, err))
				} else {
					p, err = c.put(ref, data)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				local[ref.Key] = p
				mu.Unlock()
			}
		}()
	}
	for _, ref := range missing {
		next <- ref
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	inUse := make(map[string]bool, len(local))
	for _, p := range local {
		inUse[p] = true
	}
	if err := c.trim(inUse); err != nil {
		return nil, err
	}
	return local, nil
}

// trim deletes the least recently used parts until the cache holds at most maxBytes, sparing the
// files in use, which stay even when they alone are more. It touches nothing but the cache's own
// files (a table's directory, parts and temp files), whatever else --cache's directory holds.
func (c *partCache) trim(inUse map[string]bool) error {
	type cached struct {
		path string
		size int64
		used time.Time
	}
	var (
		files []cached
		total int64
	)
	for _, t := range rows.Tables {
		dir := filepath.Join(c.dir, t.Name)
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("part cache: %w", err)
		}
		for _, d := range entries {
			name := d.Name()
			temp := strings.HasPrefix(name, ".tmp-")
			if d.IsDir() || (!temp && !strings.HasSuffix(name, layout.PartSuffix)) {
				continue
			}
			info, err := d.Info()
			if err != nil {
				continue // removed meanwhile, by a run beside this one
			}
			if temp && time.Since(info.ModTime()) < time.Hour {
				continue // being written by a run beside this one
			}
			files = append(files, cached{filepath.Join(dir, name), info.Size(), info.ModTime()})
			total += info.Size()
		}
	}
	if total <= c.maxBytes {
		return nil
	}
	slices.SortFunc(files, func(a, b cached) int { return a.used.Compare(b.used) })
	for _, f := range files {
		if total <= c.maxBytes {
			break
		}
		if inUse[f.path] {
			continue
		}
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("part cache: %w", err)
		}
		total -= f.size
	}
	return nil
}

// fetchWorkers bounds the concurrent reads of the store, to hide S3's latency without opening
// a connection per object.
const fetchWorkers = 8

// badPart is a part that cannot be trusted; its blocks count as not covered.
type badPart struct {
	Key    string
	Reason string
}

// loadParts caches parts and reads the block set of each from its Parquet metadata. A part whose
// metadata is missing, of another format, or whose block set does not hash to its name is left
// out and reported: its blocks are then decoded again, which is always safe.
func loadParts(ctx context.Context, e *engine, st store.Store, cache *partCache, refs []layout.PartRef) (good []parts.Part, local map[string]string, bad []badPart, err error) {
	local, err = cache.fetch(ctx, st, refs)
	if err != nil {
		return nil, nil, nil, err
	}
	files := make([]string, 0, len(refs))
	for _, ref := range refs {
		files = append(files, local[ref.Key])
	}
	meta, err := e.partMeta(ctx, files)
	if err != nil {
		// One unreadable file fails the whole scan; read them one by one to find it.
		meta = map[string]partInfo{}
		for _, f := range files {
			m, ferr := e.partMeta(ctx, []string{f})
			if ferr == nil {
				meta[f] = m[f]
			}
		}
	}
	for _, ref := range refs {
		info, ok := meta[local[ref.Key]]
		switch {
		case !ok:
			bad = append(bad, badPart{ref.Key, "not a readable Parquet file with lakehouse metadata"})
		case info.format != parts.FormatV1:
			bad = append(bad, badPart{ref.Key, fmt.Sprintf("format %q, want %q", info.format, parts.FormatV1)})
		case info.table != ref.Table:
			bad = append(bad, badPart{ref.Key, fmt.Sprintf("holds table %q but is filed under %q", info.table, ref.Table)})
		case parts.Name(ref.Table, info.blocks) != ref.Name:
			bad = append(bad, badPart{ref.Key, "its block set does not hash to its name"})
		default:
			good = append(good, parts.Part{PartRef: ref, Blocks: info.blocks, Times: info.times})
			continue
		}
		// The cached copy may be what is damaged; the next run downloads it again.
		os.Remove(local[ref.Key])
	}
	return good, local, bad, nil
}
