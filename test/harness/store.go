package harness

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/telemetrylake/telemetrylake/lake/store"
)

// Backend is a kind of real store a test runs against, once per kind.
type Backend struct {
	Name string
	// Storage makes a fresh, empty store and returns its URL (what --storage and the ingester's
	// config take).
	Storage func(t *testing.T) string
}

// Backends are a directory (file://) and a bucket of a real SeaweedFS (s3://, see SeaweedFS.Storage).
func Backends() []Backend {
	return []Backend{
		{"file", func(t *testing.T) string { return "file://" + t.TempDir() }},
		{"s3", func(t *testing.T) string { return StartSeaweedFS(t).Storage(t) }},
	}
}

// OpenStore opens the store at storage and closes it when the test ends.
func OpenStore(t testing.TB, storage string) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), storage)
	if err != nil {
		t.Fatalf("opening %s: %v", storage, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Storage creates a new bucket and returns the URL of a tenant's prefix in it. For the rest of the
// test the admin keys are in the standard AWS environment variables, where a store opened by URL
// finds them, as it would its credentials in production.
func (s *SeaweedFS) Storage(t testing.TB) string {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	t.Setenv("AWS_REGION", "us-east-1")
	bucket := fmt.Sprintf("lake-%d", time.Now().UnixNano())
	s.CreateBucket(t, bucket)
	return fmt.Sprintf("s3://%s/tenants/team-a?endpoint=%s&region=us-east-1&path_style=true", bucket, url.QueryEscape(s.Endpoint))
}
