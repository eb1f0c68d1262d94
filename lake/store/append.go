package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// AppendFile is an object of the file store that its one writer grows by appending and that
// readers may read as it grows: the segment writer's open segment (docs/contracts/storage.md
// §5.7). Unlike every other object it is not written whole: a reader may see a write in progress
// at its end, so what it holds must tell whole records from a torn one (the segment format does).
//
// The writer holds an exclusive flock on the file for as long as it has it open. The lock dies
// with the process, however it dies, so a process that finds an append file whose lock it can
// take knows that its writer is gone (TakeOverAppendFile): this is how several ingesters on one
// file store each keep their own open files, and how a restarted one finds what a crashed one left.
type AppendFile struct {
	key  string
	path string
	f    *os.File
	size int64
	// broken is set once a write or flush failed: the file's end is then unknown, and nothing may
	// be appended after what may be a torn record.
	broken error
}

// CreateAppendFile creates an empty append file at key, locked, and makes its name durable. The
// file is created unnamed (O_TMPFILE; a temp name where the filesystem has none), locked, and only
// then linked, so no other process can ever see it unlocked and take it for abandoned. A key that
// exists is an error.
func (s *FileStore) CreateAppendFile(key string) (*AppendFile, error) {
	final, err := s.path(key)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(final)
	if err := s.ensureDir(dir); err != nil {
		return nil, err
	}
	f, t, err := s.lockedTemp(dir)
	if err != nil {
		return nil, fmt.Errorf("file store: append file %s: %w", key, err)
	}
	err = t.link(final)
	if t.name != "" {
		os.Remove(t.name)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("file store: %w", err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return &AppendFile{key: key, path: final, f: f}, nil
}

// lockedTemp makes a new, empty, locked file in dir with no name yet (O_TMPFILE), or where the
// filesystem has none, under a temp name that the caller removes once it has linked the file.
func (s *FileStore) lockedTemp(dir string) (*os.File, *tempFile, error) {
	var f *os.File
	t := &tempFile{fd: -1}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o640)
	switch {
	case err == nil:
		f, t.fd = os.NewFile(uintptr(fd), dir), fd
	case errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL):
		if f, err = os.CreateTemp(dir, tempPrefix); err != nil {
			return nil, nil, err
		}
		t.name = f.Name()
	default:
		return nil, nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if t.name != "" {
			os.Remove(t.name)
		}
		return nil, nil, fmt.Errorf("lock: %w", err)
	}
	return f, t, nil
}

// TakeOverAppendFile opens an append file whose writer is gone, and holds its lock from then on.
// ok is false, with no error, when its writer still holds the lock, or when the file is gone.
func (s *FileStore) TakeOverAppendFile(key string) (a *AppendFile, ok bool, err error) {
	final, err := s.path(key)
	if err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(final, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("file store: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("file store: lock append file %s: %w", key, err)
	}
	// The writer may have sealed and removed the file between the open and the lock: the name
	// must still be this inode.
	held, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("file store: %w", err)
	}
	named, err := os.Stat(final)
	if errors.Is(err, fs.ErrNotExist) || err == nil && !os.SameFile(held, named) {
		f.Close()
		return nil, false, nil
	}
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("file store: %w", err)
	}
	return &AppendFile{key: key, path: final, f: f, size: held.Size()}, true, nil
}

// Key is the file's key in the store.
func (a *AppendFile) Key() string { return a.key }

// Size is how many bytes the file holds, all durable unless an Append failed.
func (a *AppendFile) Size() int64 { return a.size }

// Append writes bufs at the end of the file, one after another, and returns once they are
// durable: one fdatasync, whatever their number. After a failure the file's end is unknown (a
// record may be torn there), so every later Append fails too: the caller seals the file and
// starts another.
func (a *AppendFile) Append(bufs [][]byte) error {
	if a.broken != nil {
		return fmt.Errorf("file store: append file %s failed before: %w", a.key, a.broken)
	}
	n, err := a.writev(bufs)
	a.size += n
	if err == nil {
		err = unix.Fdatasync(int(a.f.Fd()))
	}
	if err != nil {
		a.broken = err
		return fmt.Errorf("file store: append to %s: %w", a.key, err)
	}
	return nil
}

// writev writes every byte of bufs at the file's end.
func (a *AppendFile) writev(bufs [][]byte) (written int64, err error) {
	return pwritevAll(int(a.f.Fd()), bufs, a.size)
}

// ReadAll reads the whole file as it is now, into buf if it is big enough.
func (a *AppendFile) ReadAll(buf []byte) ([]byte, error) {
	info, err := a.f.Stat()
	if err != nil {
		return nil, fmt.Errorf("file store: %w", err)
	}
	data := buf[:0]
	if int64(cap(buf)) < info.Size() {
		data = make([]byte, info.Size())
	}
	data = data[:info.Size()]
	if _, err := a.f.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("file store: read %s: %w", a.key, err)
	}
	return data, nil
}

// Close closes the file and so releases its lock. Remove the file (Store.Delete) before
// closing it, never after: a file closed unremoved looks abandoned to every other process.
func (a *AppendFile) Close() error { return a.f.Close() }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("file store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("file store: flush: %w", err)
	}
	return nil
}
