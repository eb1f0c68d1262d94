package main

import (
	"testing"
	"time"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/lake/store"
)

func TestSegmentsAreOffUnlessConfiguredAndTakeTheStoresDefaults(t *testing.T) {
	st, err := store.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if o := segmentOptions(nil, st); o != nil {
		t.Errorf("no segments section gave %+v, want one object per block", o)
	}
	o := segmentOptions(&ingesterconfig.Segments{}, st)
	if o == nil || o.MaxInFlight != 1 || o.Metadata || o.MaxDelay != 0 {
		t.Errorf("a file store's segment options: %+v, want one flush at a time, no metadata, no linger", o)
	}
	o = segmentOptions(&ingesterconfig.Segments{MaxInFlight: 3, MaxDelay: ingesterconfig.Duration{Duration: 2 * time.Millisecond}}, st)
	if o.MaxInFlight != 3 || o.MaxDelay != 2*time.Millisecond {
		t.Errorf("configured values were not kept: %+v", o)
	}
}
