package server

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/ingester/groupcommit"
	"github.com/telemetrylake/telemetrylake/lake/segment"
	"github.com/telemetrylake/telemetrylake/lake/store"
)

// SegmentOptions tune storage v2's writer: the request's blocks go to the group-commit segment
// writer (ingester/groupcommit). See docs/contracts/storage.md §5.
type SegmentOptions struct {
	// MaxDelay lets a flush wait for more blocks; 0 is none on a file store (a flush starts as
	// soon as the previous one is done) and ingesterconfig.DefaultSegmentMaxDelayS3 on S3.
	MaxDelay time.Duration
	// MaxInFlight is how many flushes may write at once; 0 is
	// ingesterconfig.DefaultSegmentMaxInFlightFile on a file store and
	// DefaultSegmentMaxInFlightS3 on S3.
	MaxInFlight int
	// FileMode is how a flush is made durable on a file store; "" is
	// ingesterconfig.DefaultSegmentFileMode, an open segment appended to.
	FileMode ingesterconfig.SegmentFileMode
	// MaxBatchBytes closes a flush's batch at this many bytes of blocks; 0 is
	// ingesterconfig.DefaultSegmentMaxBatchBytesS3 on S3 and groupcommit.DefaultMaxBatchBytes on a
	// file store.
	MaxBatchBytes int
}

func (o *SegmentOptions) setDefaults(st store.Store) {
	if store.IsS3(st) {
		setDefault(&o.MaxInFlight, ingesterconfig.DefaultSegmentMaxInFlightS3)
		setDefault(&o.MaxDelay, ingesterconfig.DefaultSegmentMaxDelayS3)
		setDefault(&o.MaxBatchBytes, ingesterconfig.DefaultSegmentMaxBatchBytesS3)
	}
	setDefault(&o.MaxInFlight, ingesterconfig.DefaultSegmentMaxInFlightFile)
	setDefault(&o.FileMode, ingesterconfig.DefaultSegmentFileMode)
}

// newSegmentWriter builds the segment writer and, on a file store in append mode, the open
// segments it appends to (nil otherwise).
func newSegmentWriter(opts Options, reg prometheus.Registerer, log *slog.Logger) (*groupcommit.Writer, *groupcommit.OpenSegments) {
	flushes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "telemetrylake_ingester_segment_flushes_total",
		Help: "Segment flushes by result (ok, error); each is one durable write of every block pending.",
	}, []string{"result"})
	flushBlocks := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "telemetrylake_ingester_segment_flush_blocks",
		Help:    "Blocks per segment flush: how well requests share a durable write.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 8),
	})
	flushSeconds := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "telemetrylake_ingester_segment_flush_duration_seconds",
		Help:    "Time from a flush's start until every segment of it is durable.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	})
	segments := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "telemetrylake_ingester_segments_written_total",
		Help: "Segments made durable.",
	})
	appended := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "telemetrylake_ingester_segment_flushes_appended_total",
		Help: "Segment flushes appended to an open segment (file store, one fdatasync), of the flushes_total that succeeded.",
	})
	reg.MustRegister(flushes, flushBlocks, flushSeconds, segments, appended)
	var open *groupcommit.OpenSegments
	if fileStore, ok := opts.Store.(*store.FileStore); ok && opts.Segments.FileMode == ingesterconfig.SegmentFileAppend {
		open = newOpenSegments(fileStore, reg, log)
	}
	return groupcommit.New(groupcommit.Config{
		Open:          open,
		Store:         opts.Store,
		MaxDelay:      opts.Segments.MaxDelay,
		MaxInFlight:   opts.Segments.MaxInFlight,
		MaxBatchBytes: opts.Segments.MaxBatchBytes,
		StoreTimeout:  opts.StoreTimeout,
		// A file store needs no metadata for a segment: its index is in the file.
		SegmentMetadata: store.IsS3(opts.Store),
		OnFlush: func(f groupcommit.FlushStats) {
			if f.Err != nil {
				flushes.WithLabelValues("error").Inc()
				return
			}
			flushes.WithLabelValues("ok").Inc()
			flushBlocks.Observe(float64(f.Blocks))
			flushSeconds.Observe(f.Duration.Seconds())
			segments.Add(float64(f.Segments))
			if f.Appended {
				appended.Inc()
			}
		},
	}), open
}

// newOpenSegments keeps the open segments of a file store, with their metrics.
func newOpenSegments(st *store.FileStore, reg prometheus.Registerer, log *slog.Logger) *groupcommit.OpenSegments {
	seals := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "telemetrylake_ingester_open_segment_seals_total",
		Help: "Open segments sealed into ordinary segments, by result (ok, error: tried again) and whether a process now gone left them (recovered).",
	}, []string{"result", "recovered"})
	sealSeconds := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "telemetrylake_ingester_open_segment_seal_duration_seconds",
		Help:    "Time to seal an open segment: read it, write its segments durably, remove it.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	sealedBytes := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "telemetrylake_ingester_open_segment_sealed_bytes_total",
		Help: "Bytes of open segments sealed: what sealing wrote a second time.",
	})
	tornBytes := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "telemetrylake_ingester_open_segment_torn_bytes_total",
		Help: "Bytes cut from the end of open segments after their last whole record when sealed: a write torn by a crash, never acknowledged.",
	})
	var open *groupcommit.OpenSegments
	openFiles := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "telemetrylake_ingester_open_segments",
		Help: "Open segments this process holds: the one flushes append to, and those waiting to be sealed.",
	}, func() float64 { return float64(open.OpenFiles()) })
	open = groupcommit.NewOpenSegments(groupcommit.OpenConfig{
		Store: st,
		OnSeal: func(s groupcommit.SealStats) {
			recovered := strconv.FormatBool(s.Recovered)
			if s.Err != nil {
				seals.WithLabelValues("error", recovered).Inc()
				log.Error("sealing an open segment failed; it stays readable and is tried again", "key", s.Key, "error", s.Err)
				return
			}
			seals.WithLabelValues("ok", recovered).Inc()
			sealSeconds.Observe(s.Duration.Seconds())
			sealedBytes.Add(float64(s.Bytes))
			tornBytes.Add(float64(s.TornBytes))
			switch {
			case s.TornBytes > 0:
				log.Warn("sealed an open segment up to its last whole record; the rest, never acknowledged, is cut", "key", s.Key, "recovered", s.Recovered, "segments", s.Segments, "blocks", s.Blocks, "bytes", s.Bytes, "torn_bytes", s.TornBytes, "torn", s.Torn)
			case s.Recovered:
				log.Info("sealed an open segment left by a process that is gone", "key", s.Key, "segments", s.Segments, "blocks", s.Blocks, "bytes", s.Bytes)
			}
		},
	})
	reg.MustRegister(seals, sealSeconds, sealedBytes, tornBytes, openFiles)
	return open
}

// writeSegments hands the request's blocks to the segment writer and waits for their flush. Its
// one store op is that wait: what the request paid for durability.
func (s *Server) writeSegments(ctx context.Context, blocks []addressedBlock) storeResult {
	packed := make([]segment.Block, len(blocks))
	for i, b := range blocks {
		packed[i] = segment.Block{ID: b.id, Meta: b.Meta, Bytes: b.Bytes}
	}
	start := time.Now()
	r, err := s.segments.Write(ctx, packed, func(i int) ([]byte, error) { return processRecord(&blocks[i]) })
	op := storeOp{result: opCreated, took: time.Since(start), err: err}
	switch {
	case err != nil:
		op.result = opError
	case r.Stored == 0:
		op.result = opDuplicate
	}
	return storeResult{
		blocksCreated: r.Stored, blocksDuplicate: r.Duplicates, processesCreated: r.Processes,
		ops: []storeOp{op}, err: err,
	}
}
