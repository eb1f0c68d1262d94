package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// FileStore keeps objects as files under a root directory.
//
// Durability without an fsync per object: a write goes to an unnamed temp inode, then waits for a
// group flush (one syncfs shared by every write in flight), is linked to its final name (link fails
// on an existing name, which makes it create-only and atomic), and waits for a second group flush
// that makes the new name durable. A name never points at unflushed data, so a crash never leaves
// a short block under a final name: a retry after a crash finds nothing, or the whole block.
type FileStore struct {
	root     string
	rootDir  *os.File // kept open for syncfs
	flusher  *groupFlusher
	madeDirs sync.Map // directories known to exist, to spare a MkdirAll per write
	// noTmpfile is set once the filesystem turns out not to support O_TMPFILE.
	noTmpfile atomic.Bool
	// syncEach flushes each object's own file and directory instead (SyncEachObject).
	syncEach bool
}

// SyncEachObject makes every Create flush its own file (fdatasync) before the link and its
// directory (fsync) after, instead of sharing a syncfs with the writes in flight. That suits a
// writer of few large objects one at a time, the segment writer: syncfs also flushes every other
// dirty page of the filesystem. The ingester turns it on for segments; its serve.go has the
// measurement. Call it before the first Create.
func (s *FileStore) SyncEachObject() { s.syncEach = true }

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
	return s.CreateParts(ctx, key, [][]byte{data}, meta)
}

// CreateParts is Create of the object that parts make laid end to end, written with vectored
// writes and never joined in memory: the seal of an open segment writes segments this way, its
// blocks straight from the bytes it read.
func (s *FileStore) CreateParts(ctx context.Context, key string, parts [][]byte, meta map[string]string) (bool, error) {
	final, err := s.path(key)
	if err != nil {
		return false, err
	}
	dir := filepath.Dir(final)
	if err := s.ensureDir(dir); err != nil {
		return false, err
	}
	var sidecar *tempFile
	if meta != nil {
		doc, err := json.Marshal(meta)
		if err != nil {
			return false, err
		}
		if sidecar, err = s.writeTemp(dir, [][]byte{doc}); err != nil {
			return false, err
		}
		defer sidecar.discard()
	}
	block, err := s.writeTemp(dir, parts)
	if err != nil {
		return false, err
	}
	defer block.discard()

	if err := s.flushData(ctx, sidecar, block); err != nil {
		return false, err
	}
	// The sidecar goes first so that a reader who finds the block also finds its metadata.
	if sidecar != nil {
		if err := sidecar.link(final + sidecarSuffix); err != nil && !errors.Is(err, fs.ErrExist) {
			return false, fmt.Errorf("file store: %w", err)
		}
	}
	created := true
	if err := block.link(final); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return false, fmt.Errorf("file store: %w", err)
		}
		// Another write's link may still be waiting for its flush; the flush below covers it too,
		// so a duplicate is never answered before the object it duplicates is durable.
		created = false
	}
	return created, s.flushNames(ctx, dir)
}

// flushData makes the temp files' contents durable before they get names.
func (s *FileStore) flushData(ctx context.Context, temps ...*tempFile) error {
	if !s.syncEach {
		return s.flusher.flush(ctx)
	}
	for _, t := range temps {
		if t == nil {
			continue
		}
		if t.fd < 0 { // a named temp file, synced when written
			continue
		}
		if err := unix.Fdatasync(t.fd); err != nil {
			return fmt.Errorf("file store: flush: %w", err)
		}
	}
	return nil
}

// flushNames makes the names linked in dir durable. A duplicate's flush covers the other write's
// link too, so a duplicate is never answered before the object it duplicates is durable.
func (s *FileStore) flushNames(ctx context.Context, dir string) error {
	if !s.syncEach {
		return s.flusher.flush(ctx)
	}
	return syncDir(dir)
}

// tempFile is written data that has no final name yet.
type tempFile struct {
	fd   int    // an O_TMPFILE inode: no name at all until linked
	name string // or a named temp file, where the filesystem has no O_TMPFILE
}

// writeTemp writes parts, end to end, to a new unnamed inode in dir. O_TMPFILE spares the create
// and unlink of a temp name (two directory updates per object) and leaves nothing behind after a
// crash.
func (s *FileStore) writeTemp(dir string, parts [][]byte) (*tempFile, error) {
	if !s.noTmpfile.Load() {
		fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o640)
		switch {
		case err == nil:
			t := &tempFile{fd: fd}
			if _, err := pwritevAll(fd, parts, 0); err != nil {
				t.discard()
				return nil, fmt.Errorf("file store: %w", err)
			}
			return t, nil
		case errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL):
			s.noTmpfile.Store(true)
		default:
			return nil, fmt.Errorf("file store: %w", err)
		}
	}
	f, err := os.CreateTemp(dir, tempPrefix)
	if err != nil {
		return nil, fmt.Errorf("file store: %w", err)
	}
	_, err = pwritevAll(int(f.Fd()), parts, 0)
	if err == nil && s.syncEach {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("file store: %w", err)
	}
	return &tempFile{fd: -1, name: f.Name()}, nil
}

// maxIovecs is how many buffers one writev takes (Linux's IOV_MAX).
const maxIovecs = 1024

// pwritevAll writes every byte of bufs, end to end, at offset, in as few pwritev calls as it
// takes.
func pwritevAll(fd int, bufs [][]byte, offset int64) (written int64, err error) {
	for len(bufs) > 0 && len(bufs[0]) == 0 {
		bufs = bufs[1:]
	}
	for len(bufs) > 0 {
		n, err := unix.Pwritev(fd, bufs[:min(len(bufs), maxIovecs)], offset+written)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return written, err
		}
		if n == 0 {
			return written, io.ErrShortWrite
		}
		written += int64(n)
		// Drop what was written, which may end inside a buffer.
		for n > 0 {
			if n >= len(bufs[0]) {
				n -= len(bufs[0])
				bufs = bufs[1:]
				continue
			}
			bufs = append([][]byte{bufs[0][n:]}, bufs[1:]...)
			n = 0
		}
		for len(bufs) > 0 && len(bufs[0]) == 0 {
			bufs = bufs[1:]
		}
	}
	return written, nil
}

// link gives the data its final name, failing with fs.ErrExist if the name is taken.
func (t *tempFile) link(final string) error {
	if t.fd < 0 {
		return os.Link(t.name, final)
	}
	// linkat with AT_EMPTY_PATH needs a capability; the /proc path does not.
	err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(t.fd), unix.AT_FDCWD, final, unix.AT_SYMLINK_FOLLOW)
	if err != nil {
		return &fs.PathError{Op: "link", Path: final, Err: err}
	}
	return nil
}

func (t *tempFile) discard() {
	if t.fd >= 0 {
		unix.Close(t.fd)
		t.fd = -1
	}
	if t.name != "" {
		os.Remove(t.name)
		t.name = ""
	}
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

func (s *FileStore) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, int64, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("file store: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("file store: %w", err)
	}
	size := info.Size()
	from, n := rangeOf(size, offset, length)
	data := make([]byte, n)
	if _, err := f.ReadAt(data, from); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("file store: %w", err)
	}
	return data, size, nil
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

// Delete removes an object, then its metadata sidecar (the reverse of Create's order, so that a
// reader who finds the object always finds its metadata), and waits for a group flush that makes
// the removal durable (with SyncEachObject, an fsync of the object's directory).
func (s *FileStore) Delete(ctx context.Context, key string) error {
	final, err := s.path(key)
	if err != nil {
		return err
	}
	for _, p := range []string{final, final + sidecarSuffix} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("file store: %w", err)
		}
	}
	return s.flushNames(ctx, filepath.Dir(final))
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
