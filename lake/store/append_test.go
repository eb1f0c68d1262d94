package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// An append file belongs to whoever holds its lock: a second opener (another process, or here
// another open file description, which flock treats alike) cannot take it while the writer has
// it, and can once the writer is gone.
func TestAnAppendFileIsTakenOverOnlyOnceItsWriterLetsGo(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const key = "segments/open/writer-000000.open"
	a, err := st.CreateAppendFile(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAppendFile(key); err == nil {
		t.Fatal("a second CreateAppendFile of the same key succeeded")
	}
	big := bytes.Repeat([]byte("x"), 200_000)
	bufs := [][]byte{[]byte("head "), big, []byte(" tail")}
	// More buffers than one writev takes.
	for range 2*maxIovecs + 3 {
		bufs = append(bufs, []byte("ab"))
	}
	if err := a.Append(bufs); err != nil {
		t.Fatal(err)
	}
	want := bytes.Join(bufs, nil)
	if a.Size() != int64(len(want)) {
		t.Fatalf("size %d, want %d", a.Size(), len(want))
	}
	got, err := os.ReadFile(filepath.Join(dir, key))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the file holds %d bytes (%v), want the %d appended", len(got), err, len(want))
	}
	if _, ok, err := st.TakeOverAppendFile(key); ok || err != nil {
		t.Fatalf("took over a file whose writer holds it (ok %v, err %v)", ok, err)
	}
	a.Close() // the writer dies without removing it
	b, ok, err := st.TakeOverAppendFile(key)
	if !ok || err != nil {
		t.Fatalf("could not take over a file whose writer is gone (ok %v, err %v)", ok, err)
	}
	defer b.Close()
	if b.Size() != int64(len(want)) {
		t.Errorf("taken over at size %d, want %d", b.Size(), len(want))
	}
	if data, err := b.ReadAll(nil); err != nil || !bytes.Equal(data, want) {
		t.Errorf("ReadAll: %d bytes, %v", len(data), err)
	}
	var keys []string
	st.List(t.Context(), "segments/", func(k string) error { keys = append(keys, k); return nil })
	if len(keys) != 1 || keys[0] != key {
		t.Errorf("listed %v, want just %s", keys, key)
	}
	if _, ok, err := st.TakeOverAppendFile("segments/open/gone-000001.open"); ok || err != nil {
		t.Errorf("a missing file: ok %v, err %v; want neither", ok, err)
	}
}
