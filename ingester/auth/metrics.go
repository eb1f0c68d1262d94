package auth

import "github.com/prometheus/client_golang/prometheus"

// Results of authentication, the values of the result label. The set is fixed, and so is the
// principal label's: a token name from the file, an issuer's configured name, "anonymous", or
// "none" for a caller the chain could not identify. An OIDC subject never becomes a label.
const (
	resultAccepted          = "accepted"
	resultMissing           = "missing"            // no Authorization header
	resultMalformed         = "malformed"          // not "Bearer <token>", or a token of neither kind
	resultUnknown           = "unknown"            // a tlk_ token not in the file: never issued, or revoked
	resultExpired           = "expired"            // past notAfter or exp
	resultInvalid           = "invalid"            // a JWT that fails signature, issuer, audience or claims
	resultNotAllowed        = "not_allowed"        // a valid JWT whose subject is not on the allow-list
	resultIssuerUnavailable = "issuer_unavailable" // discovery or keys could not be fetched
	resultForbidden         = "forbidden"          // a known caller, for a signal it may not send (403)

	principalNone      = "none"
	principalAnonymous = "anonymous"
)

type counter = prometheus.Counter

type metrics struct {
	requests *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "telemetrylake_ingester_auth_requests_total",
		Help: "Requests authenticated, by principal (token:<name>, oidc:<issuer>, kubernetes:<cluster>, anonymous, or none when unidentified) and result.",
	}, []string{"principal", "result"})}
	if err := reg.Register(m.requests); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *metrics) counter(principal, result string) counter {
	return m.requests.WithLabelValues(principal, result)
}

// forget drops the series of a principal that no longer exists (a token removed from the file).
func (m *metrics) forget(principal string) {
	m.requests.DeletePartialMatch(prometheus.Labels{"principal": principal})
}
