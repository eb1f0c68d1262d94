package rows

import (
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
)

// Measures has one row per data point of every metric type. Columns that a point type does not
// have are NULL: value for histograms, bucket columns for sums, and so on.
var Measures = Table{
	Name:       "measures",
	TimeColumn: "time",
	Columns: cols([]Column{
		{"time", "TIMESTAMP_NS"},
		{"start_time", "TIMESTAMP_NS"},
		{"name", "VARCHAR"},
		{"description", "VARCHAR"},
		{"unit", "VARCHAR"},
		{"kind", "VARCHAR"},
		{"temporality", "VARCHAR"},
		{"is_monotonic", "BOOLEAN"},
		{"value", "DOUBLE"},
		{"count", "UBIGINT"},
		{"sum", "DOUBLE"},
		{"min", "DOUBLE"},
		{"max", "DOUBLE"},
		{"bucket_bounds", "DOUBLE[]"},
		{"bucket_counts", "UBIGINT[]"},
		{"exp_scale", "INTEGER"},
		{"exp_zero_count", "UBIGINT"},
		{"exp_zero_threshold", "DOUBLE"},
		{"exp_positive_offset", "INTEGER"},
		{"exp_positive_counts", "UBIGINT[]"},
		{"exp_negative_offset", "INTEGER"},
		{"exp_negative_counts", "UBIGINT[]"},
		{"quantiles", "STRUCT(quantile DOUBLE, value DOUBLE)[]"},
		{"flags", "UINTEGER"},
		{"attributes", MapType},
		{"scope_name", "VARCHAR"},
		{"scope_version", "VARCHAR"},
	}, provenanceColumns),
}

// Metric kinds, as the kind column spells them.
const (
	KindSum                  = "sum"
	KindGauge                = "gauge"
	KindHistogram            = "histogram"
	KindExponentialHistogram = "exponential_histogram"
	KindSummary              = "summary"
)

// Measure is one row of measures: one data point.
type Measure struct {
	Time        uint64
	StartTime   uint64
	Name        string
	Description string
	Unit        string
	Kind        string
	// Temporality is "delta", "cumulative", or "" for gauges and summaries.
	Temporality string
	IsMonotonic bool
	// Value is a sum's or gauge's value, an integer widened to float64; nil for other kinds and
	// for a point that carries no value.
	Value *float64
	Count *uint64
	Sum   *float64
	Min   *float64
	Max   *float64
	// BucketBounds and BucketCounts are an explicit histogram's buckets: len(counts) is
	// len(bounds)+1, the last bucket being (last bound, +Inf).
	BucketBounds []float64
	BucketCounts []uint64
	// The exponential histogram's shape; see the OTLP data model for the bucket index mapping.
	ExpScale          *int32
	ExpZeroCount      *uint64
	ExpZeroThreshold  *float64
	ExpPositiveOffset *int32
	ExpPositiveCounts []uint64
	ExpNegativeOffset *int32
	ExpNegativeCounts []uint64
	Quantiles         []Quantile
	Flags             uint32
	Attributes        Attrs
	ScopeName         string
	ScopeVersion      string
	Provenance
}

// Quantile is one of a summary's quantiles.
type Quantile struct {
	Quantile float64
	Value    float64
}

// Values renders the row in Measures.Columns order. A list is NULL for the kinds that do not have
// it, and an empty list for a kind that has it empty.
func (r *Measure) Values() []any { return values(len(Measures.Columns), r) }

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func temporality(t metricspb.AggregationTemporality) string {
	switch t {
	case metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA:
		return "delta"
	case metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE:
		return "cumulative"
	}
	return ""
}

func decodeMetrics(entries []*metricspb.ResourceMetrics, blockID string, b *Batch) error {
	for _, rm := range entries {
		res, err := b.addResource(rm.GetResource(), rm.GetSchemaUrl(), blockID)
		if err != nil {
			return err
		}
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				// Every point of a metric starts from the same row; the point fills the rest.
				base := Measure{
					Name:         m.GetName(),
					Description:  m.GetDescription(),
					Unit:         m.GetUnit(),
					ScopeName:    sm.GetScope().GetName(),
					ScopeVersion: sm.GetScope().GetVersion(),
					Provenance:   res.provenance,
				}
				add := func(r Measure) {
					res.seen(r.Time)
					b.Measures = append(b.Measures, r)
				}
				switch data := m.GetData().(type) {
				case *metricspb.Metric_Sum:
					base.Kind = KindSum
					base.Temporality = temporality(data.Sum.GetAggregationTemporality())
					base.IsMonotonic = data.Sum.GetIsMonotonic()
					for _, dp := range data.Sum.GetDataPoints() {
						add(numberPoint(base, dp))
					}
				case *metricspb.Metric_Gauge:
					base.Kind = KindGauge
					for _, dp := range data.Gauge.GetDataPoints() {
						add(numberPoint(base, dp))
					}
				case *metricspb.Metric_Histogram:
					base.Kind = KindHistogram
					base.Temporality = temporality(data.Histogram.GetAggregationTemporality())
					for _, dp := range data.Histogram.GetDataPoints() {
						add(histogramPoint(base, dp))
					}
				case *metricspb.Metric_ExponentialHistogram:
					base.Kind = KindExponentialHistogram
					base.Temporality = temporality(data.ExponentialHistogram.GetAggregationTemporality())
					for _, dp := range data.ExponentialHistogram.GetDataPoints() {
						add(exponentialPoint(base, dp))
					}
				case *metricspb.Metric_Summary:
					base.Kind = KindSummary
					for _, dp := range data.Summary.GetDataPoints() {
						add(summaryPoint(base, dp))
					}
				}
				// A metric with no data (a newer type this code does not know) has no points to
				// give rows; its block still decodes.
			}
		}
	}
	return nil
}

func numberPoint(r Measure, dp *metricspb.NumberDataPoint) Measure {
	r.Time, r.StartTime = dp.GetTimeUnixNano(), dp.GetStartTimeUnixNano()
	switch v := dp.GetValue().(type) {
	case *metricspb.NumberDataPoint_AsDouble:
		r.Value = &v.AsDouble
	case *metricspb.NumberDataPoint_AsInt:
		f := float64(v.AsInt)
		r.Value = &f
	}
	r.Flags = dp.GetFlags()
	r.Attributes = attrs(dp.GetAttributes())
	return r
}

func histogramPoint(r Measure, dp *metricspb.HistogramDataPoint) Measure {
	r.Time, r.StartTime = dp.GetTimeUnixNano(), dp.GetStartTimeUnixNano()
	count := dp.GetCount()
	r.Count, r.Sum, r.Min, r.Max = &count, dp.Sum, dp.Min, dp.Max
	r.BucketBounds, r.BucketCounts = dp.GetExplicitBounds(), dp.GetBucketCounts()
	r.Flags = dp.GetFlags()
	r.Attributes = attrs(dp.GetAttributes())
	return r
}

func exponentialPoint(r Measure, dp *metricspb.ExponentialHistogramDataPoint) Measure {
	r.Time, r.StartTime = dp.GetTimeUnixNano(), dp.GetStartTimeUnixNano()
	count, scale, zero, threshold := dp.GetCount(), dp.GetScale(), dp.GetZeroCount(), dp.GetZeroThreshold()
	posOffset, negOffset := dp.GetPositive().GetOffset(), dp.GetNegative().GetOffset()
	r.Count, r.Sum, r.Min, r.Max = &count, dp.Sum, dp.Min, dp.Max
	r.ExpScale, r.ExpZeroCount, r.ExpZeroThreshold = &scale, &zero, &threshold
	r.ExpPositiveOffset, r.ExpPositiveCounts = &posOffset, dp.GetPositive().GetBucketCounts()
	r.ExpNegativeOffset, r.ExpNegativeCounts = &negOffset, dp.GetNegative().GetBucketCounts()
	r.Flags = dp.GetFlags()
	r.Attributes = attrs(dp.GetAttributes())
	return r
}

func summaryPoint(r Measure, dp *metricspb.SummaryDataPoint) Measure {
	r.Time, r.StartTime = dp.GetTimeUnixNano(), dp.GetStartTimeUnixNano()
	count, sum := dp.GetCount(), dp.GetSum()
	r.Count, r.Sum = &count, &sum
	r.Quantiles = make([]Quantile, 0, len(dp.GetQuantileValues()))
	for _, q := range dp.GetQuantileValues() {
		r.Quantiles = append(r.Quantiles, Quantile{Quantile: q.GetQuantile(), Value: q.GetValue()})
	}
	r.Flags = dp.GetFlags()
	r.Attributes = attrs(dp.GetAttributes())
	return r
}
