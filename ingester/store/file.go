package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// FileStore keeps objects as files under a root directory.
//
// Durability without an fsync per object: a write goes to a temp file, then waits for a group
// flush (one syncfs shared by every write in flight), is linked to its final name (link fails on an
// existing name, which makes it create-only and atomic), and waits for a second group flush that
// makes the new name durable. A link never points at unflushed data, so a crash can leave stray
// temp files but never a short block under a final name.
type FileStore struct {
	root     string
	rootDir  *os.File // kept open for syncfs
	flusher  *groupFlusher
	madeDirs sync.Map // directories known to exist, to spare a MkdirAll per write
}

const (
	tempPrefix = ".tmp-"
	// sidecarSuffix names the file that holds an object's metadata, since files have none.
	sidecarSuffix = ".meta.json"
)

// OpenFile opens (creating if needed) a file store rooted at dir and removes temp files that a
// crash left behind.
func OpenFile(dir string) (*FileStore, error) {
	if dir == "" {
		return nil, errors.New("file store: empty directory")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("file store: %w", err)
	}
	root, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("file store: %w", err)
	}
	s := &FileStore{root: dir, rootDir: root}
	s.flusher = newGroupFlusher(func() error { return unix.Syncfs(int(root.Fd())) })
	if err := s.removeStrayTemps(); err != nil {
		root.Close()
		return nil, err
	}
	return s, nil
}

func (s *FileStore) String() string { return "file://" + s.root }

func (s *FileStore) Close() error { return s.rootDir.Close() }

func (s *FileStore) path(key string) (string, error) {
	clean := path.Clean(key)
	if key == "" || clean != key || strings.HasPrefix(clean, "../") || clean == ".." || path.IsAbs(clean) {
		return "", fmt.Errorf("file store: invalid key %q", key)
	}
	base := path.Base(clean)
	if strings.HasPrefix(base, tempPrefix) || strings.HasSuffix(base, sidecarSuffix) {
		return "", fmt.Errorf("file store: key %q uses a name reserved for temp files or metadata", key)
	}
	return filepath.Join(s.root, filepath.FromSlash(clean)), nil
}

func (s *FileStore) Create(ctx context.Context, key string, data []byte, meta map[string]string) (bool, error) {
	final, err := s.path(key)
	if err != nil {
		return false, err
	}
	dir := filepath.Dir(final)
	if err := s.ensureDir(dir); err != nil {
		return false, err
	}
	if _, err := os.Lstat(final); err == nil {
		// Another writer may have linked it moments ago and still be waiting for its flush; our
		// answer must not get ahead of that flush.
		return false, s.flusher.flush(ctx)
	}

	var sidecar []byte
	if meta != nil {
		if sidecar, err = json.Marshal(meta); err != nil {
			return false, err
		}
	}
	blockTemp, err := writeTemp(dir, data)
	if err != nil {
		return false, err
	}
	defer os.Remove(blockTemp)
	var sidecarTemp string
	if sidecar != nil {
		if sidecarTemp, err = writeTemp(dir, sidecar); err != nil {
			return false, err
		}
		defer os.Remove(sidecarTemp)
	}
	if err := s.flusher.flush(ctx); err != nil {
		return false, err
	}
	// The sidecar goes first so that a reader who finds the block also finds its metadata.
	if sidecarTemp != "" {
		if err := os.Link(sidecarTemp, final+sidecarSuffix); err != nil && !errors.Is(err, fs.ErrExist) {
			return false, fmt.Errorf("file store: %w", err)
		}
	}
	created := true
	if err := os.Link(blockTemp, final); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return false, fmt.Errorf("file store: %w", err)
		}
		created = false
	}
	return created, s.flusher.flush(ctx)
}

func writeTemp(dir string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, tempPrefix)
	if err != nil {
		return "", fmt.Errorf("file store: %w", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("file store: %w", err)
	}
	return f.Name(), nil
}

func (s *FileStore) ensureDir(dir string) error {
	if _, ok := s.madeDirs.Load(dir); ok {
		return nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("file store: %w", err)
	}
	s.madeDirs.Store(dir, struct{}{})
	return nil
}

func (s *FileStore) Get(ctx context.Context, key string) ([]byte, map[string]string, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, nil, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("file store: %w", err)
	}
	var meta map[string]string
	if raw, err := os.ReadFile(p + sidecarSuffix); err == nil {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, nil, fmt.Errorf("file store: metadata of %s: %w", key, err)
		}
	}
	return data, meta, nil
}

func (s *FileStore) List(ctx context.Context, prefix string, fn func(key string) error) error {
	start := filepath.Join(s.root, filepath.FromSlash(prefix))
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() || strings.HasPrefix(name, tempPrefix) || strings.HasSuffix(name, sidecarSuffix) {
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		return fn(filepath.ToSlash(rel))
	})
	if err != nil {
		return fmt.Errorf("file store: list %s: %w", prefix, err)
	}
	return nil
}

// Ping checks that the root is still a writable directory.
func (s *FileStore) Ping(ctx context.Context) error {
	return unix.Access(s.root, unix.W_OK|unix.X_OK)
}

func (s *FileStore) removeStrayTemps() error {
	return filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), tempPrefix) {
			return os.Remove(p)
		}
		return nil
	})
}

// groupFlusher lets many writers share one flush. A writer waits for a flush that starts after it
// asked, so everything it wrote before asking is covered; writers who ask while a flush runs all
// share the next one.
type groupFlusher struct {
	sync    func() error
	mu      sync.Mutex
	next    *flushRound // the round that new callers join; it has not started
	running bool
}

type flushRound struct {
	done chan struct{}
	err  error
}

func newGroupFlusher(sync func() error) *groupFlusher { return &groupFlusher{sync: sync} }

func (g *groupFlusher) flush(ctx context.Context) error {
	g.mu.Lock()
	if g.next == nil {
		g.next = &flushRound{done: make(chan struct{})}
	}
	round := g.next
	if !g.running {
		g.running = true
		go g.run()
	}
	g.mu.Unlock()
	select {
	case <-round.done:
		return round.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *groupFlusher) run() {
	for {
		g.mu.Lock()
		round := g.next
		g.next = nil
		if round == nil {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		if err := g.sync(); err != nil {
			round.err = fmt.Errorf("file store: flush: %w", err)
		}
		close(round.done)
	}
}
