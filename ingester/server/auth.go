package server

import (
	"net/http"

	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// Principal is who sent a request.
type Principal struct {
	// Name identifies the caller in logs: a token name, or an OIDC subject.
	Name string
	// MetricLabel identifies the caller in metrics; it must come from a bounded set.
	MetricLabel string
}

// Authenticator decides who a request comes from, from its headers alone: it runs before the body
// is read, so unauthenticated traffic costs almost nothing. It returns a *AuthError to refuse.
type Authenticator interface {
	Authenticate(r *http.Request, signal layout.Signal) (Principal, error)
}

// AuthError refuses a request. Forbidden distinguishes a known caller who may not send this signal
// (403) from an unknown or invalid one (401).
type AuthError struct {
	Forbidden bool
	Message   string
}

func (e *AuthError) Error() string { return e.Message }

// AllowAnonymous accepts every request. It exists for local development only.
type AllowAnonymous struct{}

func (AllowAnonymous) Authenticate(*http.Request, layout.Signal) (Principal, error) {
	return Principal{Name: "anonymous", MetricLabel: "anonymous"}, nil
}
