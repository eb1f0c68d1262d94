// Package store keeps the lake's objects create-only: an object, once written, is never replaced,
// so the first write of a content-addressed block wins and every retry is a no-op. Deleting is
// for the lakehouse's replaced parts alone (see Store.Delete). It has two real backends, a local
// directory (file://) and S3 (s3://). It knows nothing of OTLP, nor where the lake puts what:
// keys are the caller's, and the one fact about them it needs, the media type S3 serves an object
// with, it asks of package layout. The one exception to create-only is the file store's
// AppendFile, the segment writer's open segment, which its one locked writer grows by appending
// and which is never rewritten, only removed once sealed.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
)

// Store is what the ingester and the lake's readers need from object storage.
type Store interface {
	// Create stores data under key unless an object is already there. created is false when one
	// is (a duplicate), which is not an error. It returns only once the object is durable. meta is
	// optional metadata kept with the object.
	Create(ctx context.Context, key string, data []byte, meta map[string]string) (created bool, err error)
	// Get reads an object and its metadata; a missing key gives an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (data []byte, meta map[string]string, err error)
	// GetRange reads part of an object without its metadata: length bytes from offset, fewer
	// where the object ends first; or, with a negative offset, its last -offset bytes (all of it
	// when it is shorter), the way a reader fetches a segment's trailer and index before it knows
	// the object's size. size is the whole object's length. A missing key gives ErrNotFound.
	GetRange(ctx context.Context, key string, offset, length int64) (data []byte, size int64, err error)
	// List calls fn with every key under prefix, in no particular order.
	List(ctx context.Context, prefix string, fn func(key string) error) error
	// Delete removes an object and its metadata; a missing key is not an error. It returns only
	// once the removal is durable.
	//
	// Only the lakehouse's compaction deletes: the Parquet parts it has replaced by a bigger part
	// (under layout.TablesPrefix), and the segments it has rewritten into fewer (under
	// layout.SegmentsPrefix). Standalone blocks and process records are create-only forever:
	// nothing in the project deletes them, and their retention is the bucket's lifecycle rule.
	Delete(ctx context.Context, key string) error
	// Ping says whether the store can be reached and written to right now.
	Ping(ctx context.Context) error
	// String describes the store for logs, without credentials.
	String() string
	Close() error
}

// ErrNotFound is wrapped by Get for a missing key.
var ErrNotFound = errors.New("object not found")

// Open builds the store a URL names:
//
//	file:///var/lib/lake
//	s3://bucket/prefix?endpoint=http://127.0.0.1:8333&region=us-east-1&path_style=true
func Open(ctx context.Context, rawURL string) (Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("storage URL %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("storage URL %q: a file URL names a local directory, as file:///path", rawURL)
		}
		return OpenFile(u.Path)
	case "s3":
		return OpenS3(ctx, u)
	}
	return nil, fmt.Errorf("storage URL %q: unsupported scheme %q (want file:// or s3://)", rawURL, u.Scheme)
}

// rangeOf is where GetRange's offset and length fall in an object of size bytes: the first byte
// and how many.
func rangeOf(size, offset, length int64) (from, n int64) {
	if offset < 0 {
		from = max(0, size+offset)
		return from, size - from
	}
	from = min(offset, size)
	return from, max(0, min(length, size-from))
}

// cutRange applies GetRange's offset and length to a whole object.
func cutRange(data []byte, offset, length int64) []byte {
	from, n := rangeOf(int64(len(data)), offset, length)
	return data[from : from+n]
}
