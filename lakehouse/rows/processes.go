package rows

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"github.com/telemetrylake/telemetrylake/ingester/otlpwire"
)

// Processes has one row per process id. Parts hold each process's earliest sighting among their
// blocks; the query view keeps the earliest row over all parts.
var Processes = Table{
	Name: "processes",
	Columns: []Column{
		{"process_id", "VARCHAR"},
		{"service_name", "VARCHAR"},
		{"service_namespace", "VARCHAR"},
		{"service_version", "VARCHAR"},
		{"service_instance_id", "VARCHAR"},
		{"host_name", "VARCHAR"},
		{"telemetry_sdk_language", "VARCHAR"},
		{"resource_attributes", MapType},
		{"schema_url", "VARCHAR"},
		{"first_seen", "TIMESTAMP_NS"},
		{"block_id", "VARCHAR"},
	},
}

// Process is one row of processes, taken from a block's Resource.
type Process struct {
	ProcessID            string
	ServiceName          string
	ServiceNamespace     string
	ServiceVersion       string
	ServiceInstanceID    string
	HostName             string
	TelemetrySDKLanguage string
	ResourceAttributes   Attrs
	SchemaURL            string
	// FirstSeen is the earliest record time of the blocks the process was seen in; 0 (NULL) when
	// they carry no time at all.
	FirstSeen uint64
	// BlockID is the block of that earliest sighting.
	BlockID string
}

// Values renders the row in Processes.Columns order.
func (r *Process) Values() []any { return values(len(Processes.Columns), r) }

// earlier says whether p is a better "first sighting" than q: an earlier time wins, a known time
// beats none, and the block id breaks ties so that the choice never depends on decode order.
func (p *Process) earlier(q *Process) bool {
	switch {
	case p.FirstSeen != q.FirstSeen && p.FirstSeen != 0 && q.FirstSeen != 0:
		return p.FirstSeen < q.FirstSeen
	case (p.FirstSeen == 0) != (q.FirstSeen == 0):
		return q.FirstSeen == 0
	}
	return p.BlockID < q.BlockID
}

func (b *Batch) addProcess(p Process) {
	if b.processIndex == nil {
		b.processIndex = map[string]int{}
	}
	if i, ok := b.processIndex[p.ProcessID]; ok {
		if p.earlier(&b.Processes[i]) {
			b.Processes[i] = p
		}
		return
	}
	b.processIndex[p.ProcessID] = len(b.Processes)
	b.Processes = append(b.Processes, p)
}

// resourceEntry is the resource of one entry of a block while its records are decoded: rows take
// its provenance, and the records' times date the process's sighting.
type resourceEntry struct {
	provenance Provenance
	batch      *Batch
	index      int // of the sighting in batch.Processes
}

// seen lowers the sighting's time to a record's time (0 is "no time" and never lowers it).
func (e *resourceEntry) seen(unixNano uint64) {
	p := &e.batch.Processes[e.index]
	if unixNano != 0 && (p.FirstSeen == 0 || unixNano < p.FirstSeen) {
		p.FirstSeen = unixNano
	}
}

// addResource starts an entry of a block. The process id is computed by the ingester's own
// function over the resource's bytes, so that it always equals the id in the block's metadata and
// process record.
func (b *Batch) addResource(res *resourcepb.Resource, schemaURL, blockID string) (*resourceEntry, error) {
	encoded, err := proto.MarshalOptions{Deterministic: true}.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("resource: %w", err)
	}
	text := func(key string) string {
		for _, kv := range res.GetAttributes() {
			if kv.GetKey() == key {
				return anyValueText(kv.GetValue())
			}
		}
		return ""
	}
	p := Process{
		ProcessID:            otlpwire.ProcessID(encoded).String(),
		ServiceName:          text("service.name"),
		ServiceNamespace:     text("service.namespace"),
		ServiceVersion:       text("service.version"),
		ServiceInstanceID:    text("service.instance.id"),
		HostName:             text("host.name"),
		TelemetrySDKLanguage: text("telemetry.sdk.language"),
		ResourceAttributes:   attrs(res.GetAttributes()),
		SchemaURL:            schemaURL,
		BlockID:              blockID,
	}
	// b is the batch of one block (see Decode): it keeps every sighting, and merging it into the
	// caller's batch keeps the earliest per process.
	b.Processes = append(b.Processes, p)
	entry := &resourceEntry{
		provenance: Provenance{ProcessID: p.ProcessID, ServiceName: p.ServiceName, BlockID: blockID},
		batch:      b,
		index:      len(b.Processes) - 1,
	}
	return entry, nil
}
