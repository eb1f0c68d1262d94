package otlpwire

import (
	"fmt"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// pdataRequest is the Collector's pdata export request of any signal. pdata is used for JSON
// because it reads OTLP/JSON as the spec defines it (hex ids, int64 as string or number, enums
// by name or number, unknown fields ignored), where plain protojson does not.
type pdataRequest interface {
	UnmarshalJSON([]byte) error
	MarshalJSON() ([]byte, error)
	UnmarshalProto([]byte) error
	MarshalProto() ([]byte, error)
}

func newPdataRequest(signal layout.Signal) (pdataRequest, error) {
	switch signal {
	case layout.Logs:
		return plogotlp.NewExportRequest(), nil
	case layout.Metrics:
		return pmetricotlp.NewExportRequest(), nil
	case layout.Traces:
		return ptraceotlp.NewExportRequest(), nil
	}
	return nil, fmt.Errorf("otlpwire: unknown signal %q", signal)
}

// JSONToProto decodes an OTLP/JSON export request and returns its canonical protobuf encoding,
// which Split then cuts like any protobuf request.
func JSONToProto(signal layout.Signal, body []byte) ([]byte, error) {
	req, err := newPdataRequest(signal)
	if err != nil {
		return nil, err
	}
	// JSON is UTF-8 by definition, and pdata would carry invalid bytes into protobuf strings.
	if !utf8.Valid(body) {
		return nil, &DecodeError{Reason: "invalid OTLP/JSON: the body is not valid UTF-8", json: true}
	}
	if err := req.UnmarshalJSON(body); err != nil {
		return nil, &DecodeError{Reason: "invalid OTLP/JSON: " + err.Error(), json: true}
	}
	return req.MarshalProto()
}

// ProtoToJSON renders a protobuf export request (a stored block) as OTLP/JSON.
func ProtoToJSON(signal layout.Signal, block []byte) ([]byte, error) {
	req, err := newPdataRequest(signal)
	if err != nil {
		return nil, err
	}
	if err := req.UnmarshalProto(block); err != nil {
		return nil, err
	}
	return req.MarshalJSON()
}
