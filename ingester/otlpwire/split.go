// Package otlpwire validates OTLP export requests and cuts them into one block per resource entry
// by slicing the bytes on the wire. It never unmarshals a whole request into Go structs on the
// hot path: a block's bytes are the bytes the client sent, re-framed, so unknown fields survive and
// the content address of a retried request never changes.
package otlpwire

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// Block is one resource entry of a request, as the wire gave it. Its content address (the block id,
// and the key it is stored under) is not the codec's business: lake/layout derives both from Bytes
// and Meta.
type Block struct {
	// Bytes is a complete Export*ServiceRequest holding just this entry. It may alias the request
	// body, so it is only valid while the body is.
	Bytes []byte
	// Resource is the entry's Resource message as sent (nil when absent).
	Resource []byte
	Meta     layout.BlockMeta
}

type signalSchema struct {
	request protoreflect.MessageDescriptor
	entry   *msgPlan // the Resource* message, compiled
}

// schemaOf compiles a signal's entry message with the fields that date its records.
func schemaOf(request, entry interface{ ProtoReflect() protoreflect.Message }, dating recordTime) signalSchema {
	return signalSchema{
		request: request.ProtoReflect().Descriptor(),
		entry:   compilePlan(entry.ProtoReflect().Descriptor(), dating, map[protoreflect.FullName]*msgPlan{}),
	}
}

// Field numbers shared by the three Resource* entry messages and the request messages.
const (
	requestEntriesField = 1 // Export*ServiceRequest.resource_{logs,metrics,spans}
	entryResourceField  = 1 // Resource*.resource
)

var schemas = map[layout.Signal]signalSchema{
	layout.Logs: schemaOf(&collogspb.ExportLogsServiceRequest{}, &logspb.ResourceLogs{},
		datingOf(&logspb.LogRecord{}, "time_unix_nano", "observed_time_unix_nano")),
	layout.Metrics: schemaOf(&colmetricspb.ExportMetricsServiceRequest{}, &metricspb.ResourceMetrics{}, merge(
		datingOf(&metricspb.NumberDataPoint{}, "time_unix_nano"),
		datingOf(&metricspb.HistogramDataPoint{}, "time_unix_nano"),
		datingOf(&metricspb.ExponentialHistogramDataPoint{}, "time_unix_nano"),
		datingOf(&metricspb.SummaryDataPoint{}, "time_unix_nano"),
	)),
	layout.Traces: schemaOf(&coltracepb.ExportTraceServiceRequest{}, &tracepb.ResourceSpans{},
		datingOf(&tracepb.Span{}, "start_time_unix_nano")),
}

// datingOf resolves field numbers by name from the generated descriptors, so a schema change
// surfaces at start-up rather than as silently undated blocks.
func datingOf(m interface{ ProtoReflect() protoreflect.Message }, names ...protoreflect.Name) recordTime {
	md := m.ProtoReflect().Descriptor()
	var nums []protoreflect.FieldNumber
	for _, name := range names {
		fd := md.Fields().ByName(name)
		if fd == nil || fd.Kind() != protoreflect.Fixed64Kind {
			panic(fmt.Sprintf("otlpwire: %s has no fixed64 field %s", md.FullName(), name))
		}
		nums = append(nums, fd.Number())
	}
	return recordTime{md.FullName(): nums}
}

func merge(all ...recordTime) recordTime {
	out := recordTime{}
	for _, rt := range all {
		for k, v := range rt {
			out[k] = v
		}
	}
	return out
}

// Split validates a protobuf Export*ServiceRequest of the given signal and returns one block per
// resource entry, in request order. An empty request gives no blocks. The error, if any, is a
// *DecodeError.
func Split(signal layout.Signal, body []byte) ([]Block, error) {
	schema, ok := schemas[signal]
	if !ok {
		return nil, fmt.Errorf("otlpwire: unknown signal %q", signal)
	}
	entriesName := string(schema.request.Fields().ByNumber(requestEntriesField).Name())
	var blocks []Block
	for pos := 0; pos < len(body); {
		num, typ, n := consumeTag(body[pos:])
		if n < 0 {
			return nil, &DecodeError{Offset: pos, Reason: "bad field tag: " + protowire.ParseError(n).Error()}
		}
		tagStart := pos
		pos += n
		if num != requestEntriesField {
			// Top-level fields other than the entries are not part of any block.
			m := protowire.ConsumeFieldValue(num, typ, body[pos:])
			if m < 0 {
				return nil, &DecodeError{Offset: tagStart, Reason: fmt.Sprintf("unknown field %d: %v", num, protowire.ParseError(m))}
			}
			pos += m
			continue
		}
		if typ != protowire.BytesType {
			return nil, (&DecodeError{Offset: pos, Reason: fmt.Sprintf("wrong wire type %s for a message field (want length-delimited)", wireTypeName(typ))}).within(entriesName, 0)
		}
		entry, m := protowire.ConsumeBytes(body[pos:])
		if m < 0 {
			return nil, (&DecodeError{Reason: protowire.ParseError(m).Error()}).within(entriesName, pos)
		}
		entryStart := pos + m - len(entry)
		pos += m
		var stats recordStats
		if err := walk(schema.entry, entry, &stats, 1); err != nil {
			return nil, err.within(entriesName, entryStart)
		}
		block := Block{Bytes: frameEntry(body, tagStart, pos, entry), Resource: resourceOf(entry)}
		block.Meta = layout.BlockMeta{
			ProcessID: ProcessID(block.Resource),
			Signal:    signal,
			Records:   stats.records,
			MinTime:   stats.minTime,
			MaxTime:   stats.maxTime,
		}
		blocks = append(blocks, block)
	}
	return blocks, nil
}

// frameEntry makes a one-entry request. When the body is exactly one entry it already is one, and
// reusing it spares a copy of what is usually the whole payload.
func frameEntry(body []byte, start, end int, entry []byte) []byte {
	if start == 0 && end == len(body) {
		return body[start:end]
	}
	out := make([]byte, 0, protowire.SizeTag(requestEntriesField)+protowire.SizeBytes(len(entry)))
	out = protowire.AppendTag(out, requestEntriesField, protowire.BytesType)
	return protowire.AppendBytes(out, entry)
}

// resourceOf returns the Resource message bytes of a validated entry (the last occurrence, should a
// client send the field twice).
func resourceOf(entry []byte) []byte {
	var res []byte
	forEachField(entry, func(num protowire.Number, typ protowire.Type, v []byte) {
		if num == entryResourceField && typ == protowire.BytesType {
			res = v
		}
	})
	return res
}
