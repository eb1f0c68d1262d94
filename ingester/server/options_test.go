package server

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/lake/store"
)

func TestSegmentsAreTheDefaultLayoutWithEachStoresFlushesInFlight(t *testing.T) {
	file := Options{Store: openFileStore(t)}
	file.setDefaults()
	if file.Layout != ingesterconfig.LayoutSegments || file.Segments.MaxInFlight != ingesterconfig.DefaultSegmentMaxInFlightFile || file.Segments.MaxDelay != 0 || file.Segments.MaxBatchBytes != 0 {
		t.Errorf("a file store's defaults: layout %q, %+v; want segments, one flush at a time, no linger, the writer's batch bound", file.Layout, file.Segments)
	}
	// No request is made: the client only has to exist.
	s3Store := Options{Store: store.NewS3(s3.New(s3.Options{Region: "us-east-1"}), "bucket", "prefix")}
	s3Store.setDefaults()
	if s3Store.Segments.MaxInFlight != ingesterconfig.DefaultSegmentMaxInFlightS3 || s3Store.Segments.MaxDelay != ingesterconfig.DefaultSegmentMaxDelayS3 || !store.IsS3(s3Store.Store) ||
		s3Store.Segments.MaxBatchBytes != ingesterconfig.DefaultSegmentMaxBatchBytesS3 {
		t.Errorf("an S3 store's defaults: %+v, want %d flushes in flight, a %v linger, batches of %d bytes and segment metadata", s3Store.Segments,
			ingesterconfig.DefaultSegmentMaxInFlightS3, ingesterconfig.DefaultSegmentMaxDelayS3, ingesterconfig.DefaultSegmentMaxBatchBytesS3)
	}
	kept := Options{Store: openFileStore(t), Layout: ingesterconfig.LayoutBlocks, Segments: SegmentOptions{MaxInFlight: 3, MaxDelay: 2 * time.Millisecond}}
	kept.setDefaults()
	if kept.Layout != ingesterconfig.LayoutBlocks || kept.Segments.MaxInFlight != 3 || kept.Segments.MaxDelay != 2*time.Millisecond {
		t.Errorf("configured values were not kept: %q %+v", kept.Layout, kept.Segments)
	}
}
