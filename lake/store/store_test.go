package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// TestStoreContract runs the same checks against both real backends.
// The contract is docs/contracts/storage.md §4.5 and §4.6.
func TestStoreContract(t *testing.T) {
	backends := map[string]func(t *testing.T) store.Store{
		"file": func(t *testing.T) store.Store {
			st, err := store.Open(context.Background(), "file://"+t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
		// The segment writer's mode: each object's own file and directory flushed.
		"file, each object synced": func(t *testing.T) store.Store {
			st, err := store.OpenFile(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			st.SyncEachObject()
			return st
		},
		"s3": func(t *testing.T) store.Store {
			sw := harness.StartSeaweedFS(t)
			t.Setenv("AWS_ACCESS_KEY_ID", sw.AccessKey)
			t.Setenv("AWS_SECRET_ACCESS_KEY", sw.SecretKey)
			sw.CreateBucket(t, "contract")
			st, err := store.Open(context.Background(), "s3://contract/some/prefix?path_style=true&endpoint="+url.QueryEscape(sw.Endpoint))
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			defer st.Close()
			ctx := context.Background()
			if err := st.Ping(ctx); err != nil {
				t.Fatalf("ping: %v", err)
			}

			t.Run("the first write wins and a repeat is a duplicate", func(t *testing.T) {
				created, err := st.Create(ctx, "blocks/logs/a.pb", []byte("first"), map[string]string{"records": "3"})
				if err != nil || !created {
					t.Fatalf("Create = %v, %v", created, err)
				}
				created, err = st.Create(ctx, "blocks/logs/a.pb", []byte("second"), nil)
				if err != nil || created {
					t.Fatalf("repeat Create = %v, %v; want a duplicate", created, err)
				}
				data, meta, err := st.Get(ctx, "blocks/logs/a.pb")
				if err != nil || string(data) != "first" || meta["records"] != "3" {
					t.Fatalf("Get = %q %v %v", data, meta, err)
				}
			})

			t.Run("concurrent writers of one key make one object", func(t *testing.T) {
				var wg sync.WaitGroup
				var mu sync.Mutex
				createdCount := 0
				for i := 0; i < 20; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						created, err := st.Create(ctx, "blocks/logs/race.pb", []byte("same"), nil)
						if err != nil {
							t.Error(err)
						}
						mu.Lock()
						if created {
							createdCount++
						}
						mu.Unlock()
					}()
				}
				wg.Wait()
				if createdCount != 1 {
					t.Errorf("%d writers were told they created the object, want 1", createdCount)
				}
			})

			t.Run("a range reads part of an object and says its size", func(t *testing.T) {
				data := make([]byte, 1000)
				for i := range data {
					data[i] = byte(i % 251)
				}
				if _, err := st.Create(ctx, "segments/logs/r.seg", data, nil); err != nil {
					t.Fatal(err)
				}
				for _, tc := range []struct {
					offset, length int64
					want           []byte
				}{
					{10, 20, data[10:30]},
					{990, 50, data[990:]},
					{-100, 0, data[900:]},
					{-5000, 0, data},
				} {
					got, size, err := st.GetRange(ctx, "segments/logs/r.seg", tc.offset, tc.length)
					if err != nil || size != 1000 || string(got) != string(tc.want) {
						t.Errorf("GetRange(%d, %d) = %d bytes, size %d, %v; want %d bytes, size 1000", tc.offset, tc.length, len(got), size, err, len(tc.want))
					}
				}
				if _, _, err := st.GetRange(ctx, "segments/logs/none.seg", -10, 0); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("GetRange of a missing key: %v, want ErrNotFound", err)
				}
			})

			t.Run("a missing key is ErrNotFound", func(t *testing.T) {
				if _, _, err := st.Get(ctx, "blocks/none.pb"); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("Get of a missing key = %v", err)
				}
			})

			t.Run("list shows objects only, under the prefix", func(t *testing.T) {
				st.Create(ctx, "processes/p.json", []byte("{}"), nil)
				var keys []string
				if err := st.List(ctx, "blocks/", func(k string) error { keys = append(keys, k); return nil }); err != nil {
					t.Fatal(err)
				}
				sort.Strings(keys)
				if fmt.Sprint(keys) != "[blocks/logs/a.pb blocks/logs/race.pb]" {
					t.Errorf("List = %v", keys)
				}
			})

			t.Run("a deleted object is gone with its metadata, and its key can be created afresh", func(t *testing.T) {
				const key = "tables/log_entries/date=2026-01-02/hour=15/p.parquet"
				if created, err := st.Create(ctx, key, []byte("old part"), map[string]string{"stale": "yes"}); err != nil || !created {
					t.Fatalf("Create = %v, %v", created, err)
				}
				if err := st.Delete(ctx, key); err != nil {
					t.Fatalf("Delete: %v", err)
				}
				if _, _, err := st.Get(ctx, key); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("Get after Delete = %v, want ErrNotFound", err)
				}
				var keys []string
				if err := st.List(ctx, "tables/", func(k string) error { keys = append(keys, k); return nil }); err != nil {
					t.Fatal(err)
				}
				if len(keys) != 0 {
					t.Errorf("List after Delete = %v, want nothing", keys)
				}
				if created, err := st.Create(ctx, key, []byte("new part"), nil); err != nil || !created {
					t.Fatalf("Create after Delete = %v, %v; want a new object", created, err)
				}
				data, meta, err := st.Get(ctx, key)
				if err != nil || string(data) != "new part" || len(meta) != 0 {
					t.Errorf("Get = %q %v %v; want the new bytes and none of the old metadata", data, meta, err)
				}
			})

			t.Run("deleting a missing key is not an error", func(t *testing.T) {
				for range 2 {
					if err := st.Delete(ctx, "tables/log_entries/date=2026-01-02/hour=15/never.parquet"); err != nil {
						t.Errorf("Delete of a missing key = %v", err)
					}
				}
			})

			t.Run("deleting one object leaves its neighbours", func(t *testing.T) {
				if err := st.Delete(ctx, "blocks/logs/race.pb"); err != nil {
					t.Fatal(err)
				}
				if data, meta, err := st.Get(ctx, "blocks/logs/a.pb"); err != nil || string(data) != "first" || meta["records"] != "3" {
					t.Errorf("a neighbour reads back as %q %v %v", data, meta, err)
				}
			})
		})
	}
}

func TestFileStoreRefusesKeysOutsideItsRoot(t *testing.T) {
	st, err := store.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"../escape", "/abs", "a/../../b", "", "a//b", "blocks/x.pb.meta.json", "blocks/.tmp-1"} {
		if _, err := st.Create(context.Background(), key, []byte("x"), nil); err == nil {
			t.Errorf("key %q was accepted", key)
		}
	}
}

func TestFileStoreDeleteRefusesKeysOutsideItsRootAndRemovesTheSidecar(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, key := range []string{"../escape", "/abs", "", "blocks/x.pb.meta.json"} {
		if err := st.Delete(ctx, key); err == nil {
			t.Errorf("Delete of key %q was accepted", key)
		}
	}
	if _, err := st.Create(ctx, "tables/t/p.parquet", []byte("x"), map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "tables/t/p.parquet"); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "tables", "t", "*"))
	if len(left) != 0 {
		t.Errorf("files left behind after Delete: %v", left)
	}
}

// TestFileStoreRemovesTempFilesACrashLeft pins docs/contracts/storage.md §4.6: stray temp files go
// when the store opens.
func TestFileStoreRemovesTempFilesACrashLeft(t *testing.T) {
	dir := t.TempDir()
	stray := filepath.Join(dir, "blocks", ".tmp-123")
	os.MkdirAll(filepath.Dir(stray), 0o755)
	os.WriteFile(stray, []byte("half"), 0o644)
	if _, err := store.OpenFile(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stray); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stray temp file survived: %v", err)
	}
}

func TestFileStoreWriteWaitsForItsFlush(t *testing.T) {
	// Many concurrent writers share flushes; each must still see its own object afterwards.
	st, err := store.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("blocks/logs/%d.pb", i)
			if _, err := st.Create(ctx, key, []byte(key), map[string]string{"n": key}); err != nil {
				t.Error(err)
				return
			}
			if data, meta, err := st.Get(ctx, key); err != nil || string(data) != key || meta["n"] != key {
				t.Errorf("%s read back as %q %v %v", key, data, meta, err)
			}
		}()
	}
	wg.Wait()
}
