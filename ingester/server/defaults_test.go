package server

import (
	"testing"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
)

func TestNewGivesZeroFieldsTheIngesterDefaults(t *testing.T) {
	s := New(Options{Auth: AllowAnonymous{}})
	got, want := s.opts.Limits, Limits{
		MaxBodyBytes:          ingesterconfig.DefaultMaxBodyBytes,
		MaxDecompressedBytes:  ingesterconfig.DefaultMaxDecompressedBytes,
		MaxDecompressionRatio: ingesterconfig.DefaultMaxDecompressionRatio,
		MaxInflightBytes:      ingesterconfig.DefaultMaxInflightBytes,
	}
	if got != want {
		t.Errorf("limits %+v, want %+v", got, want)
	}
	if s.opts.StoreTimeout != ingesterconfig.DefaultStoreTimeout {
		t.Errorf("store timeout %s, want %s", s.opts.StoreTimeout, ingesterconfig.DefaultStoreTimeout)
	}
}
