package server

import (
	"fmt"
	"net/http"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/code"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// failure is the one error type of the request pipeline: every step returns one, and its kind
// alone decides the HTTP answer, through the answers table below.
type failure struct {
	kind    failureKind
	message string // told to the client: what was wrong and, where it helps, what to do
	cause   error  // logged, never sent: it may name internal hosts
}

func (f *failure) Error() string {
	if f.cause != nil {
		return f.message + ": " + f.cause.Error()
	}
	return f.message
}

func (f *failure) Unwrap() error { return f.cause }

type failureKind int

const (
	notFound failureKind = iota + 1
	methodNotAllowed
	unauthenticated
	forbidden
	unsupportedMedia
	bodyTooLarge
	badRequest
	overloaded
	storeUnavailable
	internalFault
)

func fail(kind failureKind, format string, args ...any) *failure {
	return &failure{kind: kind, message: fmt.Sprintf(format, args...)}
}

func failWith(kind failureKind, cause error, format string, args ...any) *failure {
	return &failure{kind: kind, message: fmt.Sprintf(format, args...), cause: cause}
}

type answer struct {
	status int
	code   code.Code
	// headers set on the response; Retry-After is integer seconds because older Go exporters
	// parse nothing else.
	headers map[string]string
}

// answers is the whole mapping from failures to HTTP. Only 429 and 503 ask a client to retry;
// every other 4xx makes it drop the batch, so none of them is used for a fault of ours.
var answers = map[failureKind]answer{
	notFound:         {status: http.StatusNotFound, code: code.Code_NOT_FOUND},
	methodNotAllowed: {status: http.StatusMethodNotAllowed, code: code.Code_UNIMPLEMENTED, headers: map[string]string{"Allow": http.MethodPost}},
	unauthenticated:  {status: http.StatusUnauthorized, code: code.Code_UNAUTHENTICATED, headers: map[string]string{"WWW-Authenticate": `Bearer realm="telemetrylake"`}},
	forbidden:        {status: http.StatusForbidden, code: code.Code_PERMISSION_DENIED},
	unsupportedMedia: {status: http.StatusUnsupportedMediaType, code: code.Code_INVALID_ARGUMENT},
	bodyTooLarge:     {status: http.StatusRequestEntityTooLarge, code: code.Code_INVALID_ARGUMENT},
	badRequest:       {status: http.StatusBadRequest, code: code.Code_INVALID_ARGUMENT},
	overloaded:       {status: http.StatusTooManyRequests, code: code.Code_RESOURCE_EXHAUSTED, headers: map[string]string{"Retry-After": strconv.Itoa(overloadedRetryAfterSeconds)}},
	storeUnavailable: {status: http.StatusServiceUnavailable, code: code.Code_UNAVAILABLE, headers: map[string]string{"Retry-After": strconv.Itoa(unavailableRetryAfterSeconds)}},
	internalFault:    {status: http.StatusInternalServerError, code: code.Code_INTERNAL},
}

const (
	overloadedRetryAfterSeconds  = 1
	unavailableRetryAfterSeconds = 5
	// maxMessageBytes keeps error bodies far below the 4 MiB a client may read.
	maxMessageBytes = 1024
)

// writeFailure sends a google.rpc.Status in the request's encoding.
func writeFailure(w http.ResponseWriter, enc encoding, f *failure) int {
	a, ok := answers[f.kind]
	if !ok {
		a = answers[internalFault]
	}
	for k, v := range a.headers {
		w.Header().Set(k, v)
	}
	msg := f.message
	if len(msg) > maxMessageBytes {
		msg = msg[:maxMessageBytes] + "…"
	}
	st := &statuspb.Status{Code: int32(a.code), Message: msg}
	var body []byte
	if enc == encodingJSON {
		body, _ = protojson.Marshal(st)
	} else {
		body, _ = proto.Marshal(st)
	}
	w.Header().Set("Content-Type", enc.contentType())
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(a.status)
	w.Write(body)
	return a.status
}

// writeSuccess sends an empty Export*ServiceResponse: zero bytes in protobuf, {} in JSON.
func writeSuccess(w http.ResponseWriter, enc encoding) int {
	body := []byte{}
	if enc == encodingJSON {
		body = []byte("{}")
	}
	w.Header().Set("Content-Type", enc.contentType())
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	return http.StatusOK
}
