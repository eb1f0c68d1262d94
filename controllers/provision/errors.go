package provision

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/aws/smithy-go"
)

// The kinds of failure, one per remedy, so the controller can pick a condition reason with
// errors.Is. Every error this package returns matches exactly one of them; its message names the
// bucket or user, the store, and what to do.
var (
	// ErrUnreachable: the store could not be reached, timed out, or answered with a transient
	// failure (5xx, throttling, a concurrent change). Retrying with backoff is the remedy.
	ErrUnreachable = errors.New("object store unreachable")
	// ErrDenied: the store refused the admin credentials (401/403). An admin must fix the
	// credentials or their permissions; retrying alone will not help.
	ErrDenied = errors.New("access denied")
	// ErrInvalid: the request cannot succeed as configured (a bad bucket name or template, a
	// missing shared bucket, a CA bundle that does not verify the endpoint). The LakeStorageClass
	// or the TelemetryLake must change.
	ErrInvalid = errors.New("invalid storage configuration")
	// ErrConflict: the bucket or IAM user that the tenant's names lead to is not the tenant's to
	// use (it belongs to another tenant or account), or a bucket to delete is still not empty.
	ErrConflict = errors.New("conflict")
	// ErrUnsupported: the store does not implement an API this provisioner needs (for example
	// IAM users on a store without an IAM API, or lifecycle rules).
	ErrUnsupported = errors.New("not supported by the object store")
)

// provisionError is what every exported method returns on failure: a message written for the
// user, a kind for the controller, and the original error for errors.As (smithy.APIError,
// net.Error, ...).
type provisionError struct {
	kind  error
	msg   string
	cause error
}

func (e *provisionError) Error() string   { return e.msg }
func (e *provisionError) Unwrap() []error { return []error{e.kind, e.cause} }

// invalidf reports a problem found before any request was made.
func invalidf(format string, args ...any) error {
	return &provisionError{kind: ErrInvalid, msg: fmt.Sprintf(format, args...)}
}

// call describes one request to the store, so that a failure can say what was attempted, on
// what, and which permission the admin credentials need for it.
type call struct {
	api    string // "S3" or "IAM"
	op     string // the API operation, e.g. "CreateBucket"
	target string // e.g. `bucket "tl-team-a-lake"`
	perm   string // e.g. "s3:CreateBucket"
}

// fail wraps err from c with its kind and a message that says what to do. hint, when not empty,
// replaces the default advice for the kind.
func (s *s3iam) fail(c call, err error, hint string) error {
	kind, detail := classify(err)
	where := fmt.Sprintf("the %s API at %s", c.api, s.where)
	var msg string
	switch kind {
	case ErrUnreachable:
		msg = fmt.Sprintf("%s could not complete %s for %s: %s", where, c.op, c.target, detail)
		if hint == "" {
			hint = "check that the object store is up and the LakeStorageClass endpoint is right; the operator retries with backoff"
		}
	case ErrDenied:
		msg = fmt.Sprintf("%s refused %s for %s: %s", where, c.op, c.target, detail)
		switch {
		case hint != "":
		case badCredentialCodes[errorCode(err)]:
			hint = "the admin access key or secret in the LakeStorageClass's credentials Secret is wrong"
		default:
			hint = "the admin credentials in the LakeStorageClass need " + c.perm
		}
	case ErrUnsupported:
		msg = fmt.Sprintf("%s does not implement %s (needed for %s): %s", where, c.op, c.target, detail)
		if hint == "" && c.api == "IAM" {
			hint = "this object store cannot make per-tenant users; use a LakeStorageClass with provisioner s3-static"
		}
	default:
		verb := "rejected"
		if httpStatus(err) == 0 && errorCode(err) == "" {
			verb = "could not complete" // e.g. TLS verification failed: the store never answered
		}
		msg = fmt.Sprintf("%s %s %s for %s: %s", where, verb, c.op, c.target, detail)
	}
	if hint != "" {
		msg += " — " + hint
	}
	return &provisionError{kind: kind, msg: msg, cause: err}
}

// classify maps an SDK error to a kind and a short description of it ("AccessDenied (HTTP 403):
// Access Denied."). A nil error has no kind.
func classify(err error) (kind error, detail string) {
	if err == nil {
		return nil, ""
	}
	// TLS failures are not transient: the CA bundle or the URL must change.
	var verifyErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.As(err, &verifyErr):
		return ErrInvalid, verifyErr.Error() + "; check the CA bundle and the endpoint URL in the LakeStorageClass"
	case errors.As(err, &recordErr):
		return ErrInvalid, "the endpoint does not answer TLS; check the scheme and port of the endpoint URL in the LakeStorageClass"
	}
	code, status := errorCode(err), httpStatus(err)
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		detail = code
		if status != 0 {
			detail += fmt.Sprintf(" (HTTP %d)", status)
		}
		if m := apiErr.ErrorMessage(); m != "" && m != code {
			detail += ": " + m
		}
	} else {
		// No answer from the store at all: refused, reset, DNS, a timeout, or a cancelled context.
		return ErrUnreachable, transportDetail(err)
	}
	switch {
	case deniedCodes[code] || badCredentialCodes[code] || status == http.StatusUnauthorized || status == http.StatusForbidden:
		return ErrDenied, detail
	case code == "NotImplemented" || code == "InvalidAction" || code == "MethodNotAllowed" ||
		status == http.StatusNotImplemented || status == http.StatusMethodNotAllowed:
		return ErrUnsupported, detail
	case transientCodes[code] || status == http.StatusTooManyRequests || status >= 500:
		return ErrUnreachable, detail
	case conflictCodes[code]:
		return ErrConflict, detail
	}
	return ErrInvalid, detail
}

var deniedCodes = map[string]bool{"AccessDenied": true, "AccessDeniedException": true, "AllAccessDisabled": true}

// badCredentialCodes say the key itself is wrong, rather than short of a permission.
var badCredentialCodes = map[string]bool{
	"InvalidAccessKeyId": true, "InvalidClientTokenId": true, "SignatureDoesNotMatch": true,
	"ExpiredToken": true, "InvalidToken": true, "UnrecognizedClientException": true,
}

var transientCodes = map[string]bool{
	"SlowDown": true, "Throttling": true, "ThrottlingException": true, "RequestLimitExceeded": true,
	"ServiceUnavailable": true, "ServiceFailure": true, "InternalError": true, "RequestTimeout": true,
	"OperationAborted": true, "ConcurrentModification": true,
}

var conflictCodes = map[string]bool{
	"BucketAlreadyExists": true, "BucketNotEmpty": true,
}

// errorCode is the store's error code ("NoSuchBucket", "NoSuchEntity", ...), or "".
func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// httpStatus is the HTTP status of the store's answer, or 0 when there was none.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// isCode reports whether err carries one of the given store error codes.
func isCode(err error, codes ...string) bool {
	code := errorCode(err)
	for _, c := range codes {
		if code == c {
			return true
		}
	}
	return false
}

// transportDetail describes a failure to get an answer at all ("dial tcp 127.0.0.1:9: connect:
// connection refused") without the SDK's layers of "operation error S3: HeadBucket, exceeded
// maximum number of attempts, 3, https response error ..."; the whole chain stays reachable
// with errors.As.
func transportDetail(err error) string {
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr.Error()
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return err.Error()
}
