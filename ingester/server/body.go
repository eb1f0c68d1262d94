package server

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// encoding is the OTLP/HTTP payload encoding of a request, and so of its answer.
type encoding int

const (
	encodingProtobuf encoding = iota
	encodingJSON
)

func (e encoding) contentType() string {
	if e == encodingJSON {
		return "application/json"
	}
	return "application/x-protobuf"
}

func (e encoding) String() string {
	if e == encodingJSON {
		return "json"
	}
	return "protobuf"
}

// payloadEncoding reads the Content-Type. The encoding it returns is also the answer's, so on a
// failure it is protobuf, the spec's default: only a valid application/json is answered in JSON.
func payloadEncoding(h http.Header) (encoding, *failure) {
	raw := h.Get("Content-Type")
	if raw == "" {
		return 0, fail(unsupportedMedia, "missing Content-Type header: send application/x-protobuf or application/json")
	}
	mt, _, err := mime.ParseMediaType(raw)
	switch {
	case err != nil:
		return 0, fail(unsupportedMedia, "malformed Content-Type %q: send application/x-protobuf or application/json", raw)
	case mt == "application/x-protobuf":
		return encodingProtobuf, nil
	case mt == "application/json":
		return encodingJSON, nil
	}
	return 0, fail(unsupportedMedia, "unsupported Content-Type %q: send application/x-protobuf or application/json", mt)
}

// compression is a Content-Encoding the ingester decodes.
type compression string

const (
	identity compression = "identity"
	gzipped  compression = "gzip"
	zstdized compression = "zstd"
)

func contentCompression(h http.Header) (compression, *failure) {
	values := h.Values("Content-Encoding")
	if len(values) > 1 {
		return "", fail(unsupportedMedia, "more than one Content-Encoding header: send one of identity, gzip, zstd")
	}
	raw := ""
	if len(values) == 1 {
		raw = values[0]
	}
	switch c := strings.ToLower(strings.TrimSpace(raw)); c {
	case "", "identity":
		return identity, nil
	case "gzip", "zstd":
		return compression(c), nil
	}
	return "", fail(unsupportedMedia, "unsupported Content-Encoding %q: send identity, gzip or zstd", raw)
}

// Limits bound what one request may cost.
type Limits struct {
	// MaxBodyBytes bounds the body as sent (compressed).
	MaxBodyBytes int64
	// MaxDecompressedBytes bounds the body after decompression.
	MaxDecompressedBytes int64
	// MaxDecompressionRatio bounds decompressed/compressed size once past decompressionRatioFloor;
	// a negative ratio turns the check off. It stops a bomb early, before it reaches
	// MaxDecompressedBytes.
	MaxDecompressionRatio int64
	// MaxInflightBytes bounds body bytes held by all requests at once; beyond it requests get 429.
	MaxInflightBytes int64
}

// decompressionRatioFloor lets small bodies of very repetitive telemetry through the ratio check.
const decompressionRatioFloor = 1 << 20

// inflight counts body bytes held by requests. A request may always grow while it is the only one
// holding bytes, so that one maximal request is never refused forever.
type inflight struct {
	limit int64
	used  atomic.Int64
}

// reserve takes n more bytes for a request that already holds own.
func (b *inflight) reserve(n, own int64) bool {
	for {
		cur := b.used.Load()
		if cur > own && cur+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

func (b *inflight) release(n int64) { b.used.Add(-n) }

// readChunk is how much budget a read of unknown length takes at a time.
const readChunk = 64 << 10

// bodyReader reads and decompresses request bodies within the limits, from pooled buffers.
type bodyReader struct {
	limits   Limits
	inflight *inflight
	buffers  sync.Pool
	gzips    sync.Pool
	zstds    sync.Pool
}

// maxPooledBuffer keeps the rare huge body's buffer from pinning memory after it is done.
const maxPooledBuffer = 4 << 20

func newBodyReader(l Limits) *bodyReader {
	return &bodyReader{limits: l, inflight: &inflight{limit: l.MaxInflightBytes}}
}

// heldBody is a request's bytes plus what must be given back when the request is done.
type heldBody struct {
	r         *bodyReader
	reserved  int64
	wireBytes int64
	bufs      []*[]byte
}

func (h *heldBody) release() {
	h.r.inflight.release(h.reserved)
	for _, b := range h.bufs {
		if cap(*b) <= maxPooledBuffer {
			*b = (*b)[:0]
			h.r.buffers.Put(b)
		}
	}
}

func (r *bodyReader) buffer(held *heldBody) *[]byte {
	b, _ := r.buffers.Get().(*[]byte)
	if b == nil {
		b = new([]byte)
	}
	held.bufs = append(held.bufs, b)
	return b
}

// read returns the decompressed body. The caller must call held.release when done with it.
func (r *bodyReader) read(req *http.Request, c compression) (body []byte, held *heldBody, f *failure) {
	held = &heldBody{r: r}
	if req.ContentLength > r.limits.MaxBodyBytes {
		return nil, held, fail(bodyTooLarge, "request body of %d bytes is over the limit of %d bytes", req.ContentLength, r.limits.MaxBodyBytes)
	}
	wire := r.buffer(held)
	if f := r.readAll(req.Body, wire, req.ContentLength, r.limits.MaxBodyBytes, held, "request body"); f != nil {
		return nil, held, f
	}
	held.wireBytes = int64(len(*wire))
	if c == identity {
		return *wire, held, nil
	}
	plain := r.buffer(held)
	if f := r.decompress(c, *wire, plain, held); f != nil {
		return nil, held, f
	}
	return *plain, held, nil
}

// readAll appends src to *dst, reserving in-flight budget as it grows: the whole declared length
// up front when it is known, or a chunk at a time for a chunked body.
func (r *bodyReader) readAll(src io.Reader, dst *[]byte, declared, limit int64, held *heldBody, what string) *failure {
	if declared > 0 {
		if !r.reserve(held, declared) {
			return r.overloaded()
		}
		// One byte more than declared, so that the read that meets EOF needs no growth.
		if int64(cap(*dst)) <= declared {
			*dst = make([]byte, 0, declared+1)
		}
	}
	buf := *dst
	for {
		if len(buf) == cap(buf) {
			grow := int64(max(cap(buf), readChunk))
			if int64(len(buf))+grow > limit+1 {
				grow = limit + 1 - int64(len(buf))
			}
			if int64(len(buf))+grow > held.reserved && !r.reserve(held, int64(len(buf))+grow-held.reserved) {
				*dst = buf
				return r.overloaded()
			}
			buf = slices.Grow(buf, int(grow))
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			*dst = buf
			return fail(bodyTooLarge, "%s is over the limit of %d bytes", what, limit)
		}
		if err == io.EOF {
			*dst = buf
			return nil
		}
		if err != nil {
			*dst = buf
			return r.readFailure(err, what)
		}
	}
}

func (r *bodyReader) reserve(held *heldBody, n int64) bool {
	if !r.inflight.reserve(n, held.reserved) {
		return false
	}
	held.reserved += n
	return true
}

func (r *bodyReader) overloaded() *failure {
	return fail(overloaded, "the ingester is holding its limit of %d bytes of request bodies: retry later", r.limits.MaxInflightBytes)
}

func (r *bodyReader) readFailure(err error, what string) *failure {
	return failWith(badRequest, err, "reading the %s failed", what)
}

func (r *bodyReader) decompress(c compression, wire []byte, plain *[]byte, held *heldBody) *failure {
	if len(wire) == 0 {
		return fail(badRequest, "Content-Encoding is %s but the body is empty", c)
	}
	limit := r.limits.MaxDecompressedBytes
	if ratio := r.limits.MaxDecompressionRatio; ratio > 0 {
		limit = min(limit, max(ratio*int64(len(wire)), decompressionRatioFloor))
	}
	var src io.Reader
	switch c {
	case gzipped:
		zr, _ := r.gzips.Get().(*gzip.Reader)
		if zr == nil {
			zr = new(gzip.Reader)
		}
		defer r.gzips.Put(zr)
		if err := zr.Reset(bytes.NewReader(wire)); err != nil {
			return failWith(badRequest, err, "Content-Encoding is gzip but the body is not gzip data: %v", err)
		}
		zr.Multistream(true)
		src = zr
	case zstdized:
		zr, _ := r.zstds.Get().(*zstd.Decoder)
		if zr == nil {
			var err error
			zr, err = zstd.NewReader(nil,
				zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxWindow(zstdMaxWindow),
				zstd.WithDecoderMaxMemory(uint64(r.limits.MaxDecompressedBytes)+1))
			if err != nil {
				return failWith(internalFault, err, "zstd decoder")
			}
		}
		defer r.zstds.Put(zr)
		if err := zr.Reset(bytes.NewReader(wire)); err != nil {
			return failWith(badRequest, err, "Content-Encoding is zstd but the body is not zstd data: %v", err)
		}
		src = zr
	}
	f := r.readAll(src, plain, 0, limit, held, "decompressed body")
	if f != nil && f.kind == badRequest {
		return failWith(badRequest, f.cause, "Content-Encoding is %s but the body does not decompress: %v", c, f.cause)
	}
	if f != nil && f.kind == bodyTooLarge && limit < r.limits.MaxDecompressedBytes {
		return fail(bodyTooLarge, "decompressed body is over %d times its compressed size of %d bytes", r.limits.MaxDecompressionRatio, len(wire))
	}
	return f
}

// zstdMaxWindow is the largest back-reference window a zstd body may ask the decoder to hold.
// Encoders at their default levels use at most 8 MiB.
const zstdMaxWindow = 16 << 20
