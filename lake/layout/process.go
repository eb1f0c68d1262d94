package layout

import (
	"encoding/json"
	"time"
)

// ResourceAttribute is one attribute of a process's resource, rendered by the wire codec.
type ResourceAttribute struct {
	Key string
	// Text is a string value as sent, and any other value as its JSON.
	Text string
	// JSON is the value as JSON of its AnyValue type.
	JSON json.RawMessage
}

// NewProcessRecord describes a process from its resource attributes, on first sight: the document
// stored at ProcessKey(id). firstSeenUnixNano dates it when the resource has no
// process.creation.time. Should a key repeat, its last value wins.
func NewProcessRecord(id UUID, attrs []ResourceAttribute, firstSeenUnixNano uint64) ProcessRecord {
	text := make(map[string]string, len(attrs))
	properties := make(map[string]json.RawMessage, len(attrs))
	for _, a := range attrs {
		text[a.Key] = a.Text
		properties[a.Key] = a.JSON
	}
	exe := text["service.name"]
	if ns := text["service.namespace"]; ns != "" {
		exe = ns + "/" + exe
	}
	start := text["process.creation.time"]
	if start == "" && firstSeenUnixNano != 0 {
		start = time.Unix(0, int64(firstSeenUnixNano)).UTC().Format(time.RFC3339Nano)
	}
	return ProcessRecord{
		ProcessID:  id.String(),
		Exe:        exe,
		Computer:   text["host.name"],
		Username:   text["user.name"],
		Distro:     text["os.description"],
		CPUBrand:   text["host.cpu.model.name"],
		StartTime:  start,
		Properties: properties,
	}
}
