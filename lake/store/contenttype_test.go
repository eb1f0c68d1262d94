package store

import "testing"

func TestContentTypeFollowsTheKeysSuffix(t *testing.T) {
	for key, want := range map[string]string{
		"blocks/logs/2026-01-02/15/x.pb":                       "application/x-protobuf",
		"processes/p.json":                                     "application/json",
		"tables/log_entries/date=2026-01-02/hour=15/p.parquet": "application/vnd.apache.parquet",
	} {
		if got := contentTypeOf(key); got != want {
			t.Errorf("contentTypeOf(%s) = %s, want %s", key, got, want)
		}
	}
}
