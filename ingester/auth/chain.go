// Package auth is the ingester's authenticator chain: one server.Authenticator that serves every
// signal and accepts
//
//   - TelemetryLake bearer tokens ("tlk_…"), checked against the SHA-256 hashes in a token file
//     that is re-read when it changes;
//   - JWTs from OIDC issuers, verified with go-oidc against keys found through discovery;
//   - Kubernetes service-account tokens, which are such JWTs with the kube-apiserver as issuer and
//     an allow-list of service accounts and namespaces.
//
// The kind of a bearer token picks its authenticator (a tlk_ prefix, or a JWT's iss claim), so a
// request never waits on an authenticator that is not its own: an OIDC outage cannot slow token
// traffic down.
//
// It runs on headers alone, before the body is read. It must never log, echo in an answer, or put
// into a metric a token, a JWT or a token's hash; and its metric labels must stay a bounded set.
package auth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/api/tokenfile"
	"github.com/telemetrylake/telemetrylake/ingester/server"
	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// Options are the chain's settings that do not come from the config file.
type Options struct {
	// AllowAnonymous lets a request without an Authorization header through as "anonymous"; one
	// with credentials is still checked. For local development only.
	AllowAnonymous bool
	// Logger receives reloads, discovery progress and errors; never a credential.
	Logger *slog.Logger
	// Registerer receives telemetrylake_ingester_auth_requests_total. Default: a private registry.
	Registerer prometheus.Registerer
	// Now is the clock for expiry checks. Default time.Now; tests move it.
	Now func() time.Time
	// TokenFilePollInterval is how often the token file is checked for changes. Default 500ms,
	// so that a removed token stops working well within 2 s.
	TokenFilePollInterval time.Duration
	// KeyRefetchInterval is the least time between two fetches of an issuer's key set caused by
	// JWTs signed with keys not seen yet. Default DefaultKeyRefetchInterval.
	KeyRefetchInterval time.Duration
}

const DefaultTokenFilePollInterval = 500 * time.Millisecond

// Chain authenticates requests. It is safe for concurrent use. A token takes no locks; a JWT takes
// one only for the moment it reads its issuer's cached key set.
type Chain struct {
	tokens    *tokenFile         // nil without a token file
	issuers   map[string]*issuer // by issuer URL, the iss claim
	anonymous bool
	now       func() time.Time
	metrics   *metrics
	// refusals of callers the chain could not identify, resolved once.
	missing, malformed, unknown counter
	anonymousAccepted           counter
}

var _ server.Authenticator = (*Chain)(nil)

// New builds the chain from the config's auth section. It reads the token file and the issuers' CA
// files now, and fails if they are unusable, so that a broken mount stops the ingester at start.
// OIDC discovery runs in the background, retrying until it succeeds; meanwhile JWTs from that
// issuer get a 401. Background work stops when ctx ends.
func New(ctx context.Context, cfg ingesterconfig.Auth, opts Options) (*Chain, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TokenFilePollInterval <= 0 {
		opts.TokenFilePollInterval = DefaultTokenFilePollInterval
	}
	if opts.KeyRefetchInterval <= 0 {
		opts.KeyRefetchInterval = DefaultKeyRefetchInterval
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Chain{
		issuers:   map[string]*issuer{},
		anonymous: opts.AllowAnonymous,
		now:       opts.Now,
		metrics:   m,
		missing:   m.counter(principalNone, resultMissing),
		malformed: m.counter(principalNone, resultMalformed),
		unknown:   m.counter(principalNone, resultUnknown),
	}
	if c.anonymous {
		c.anonymousAccepted = m.counter(principalAnonymous, resultAccepted)
	}
	if cfg.TokenFile != "" {
		if c.tokens, err = loadTokenFile(cfg.TokenFile, m, opts.Logger); err != nil {
			return nil, err
		}
	}
	var issuers []issuerConfig
	for _, o := range cfg.OIDC {
		issuers = append(issuers, oidcIssuerConfig(o))
	}
	for _, k := range cfg.Kubernetes {
		issuers = append(issuers, kubernetesIssuerConfig(k))
	}
	for _, ic := range issuers {
		if _, dup := c.issuers[ic.url]; dup {
			return nil, fmt.Errorf("auth: issuer URL %s is configured twice; merge the entries", ic.url)
		}
		is, err := newIssuer(ic, opts.Now, opts.KeyRefetchInterval, m, opts.Logger)
		if err != nil {
			return nil, err
		}
		c.issuers[ic.url] = is
	}
	// Background work starts only once nothing can fail any more.
	if c.tokens != nil {
		go c.tokens.watch(ctx, opts.TokenFilePollInterval)
	}
	for _, is := range c.issuers {
		go is.discover(ctx)
	}
	return c, nil
}

// Authenticate implements server.Authenticator.
func (c *Chain) Authenticate(r *http.Request, signal layout.Signal) (server.Principal, error) {
	values := r.Header.Values("Authorization")
	switch {
	case len(values) == 0 && c.anonymous:
		c.anonymousAccepted.Inc()
		return server.Principal{Name: principalAnonymous, MetricLabel: principalAnonymous}, nil
	case len(values) == 0:
		c.missing.Inc()
		return server.Principal{}, unauthenticated(`no Authorization header: send "Authorization: Bearer <token>"`)
	case len(values) > 1:
		c.malformed.Inc()
		return server.Principal{}, unauthenticated("more than one Authorization header: send exactly one")
	}
	bearer, ok := bearerToken(values[0])
	switch {
	case !ok:
		c.malformed.Inc()
		return server.Principal{}, unauthenticated(`the Authorization header must read "Bearer <token>"`)
	case strings.HasPrefix(bearer, tokenfile.Prefix):
		return c.authenticateToken(bearer, signal)
	case strings.Count(bearer, ".") == 2:
		return c.authenticateJWT(r.Context(), bearer, signal)
	default:
		c.malformed.Inc()
		return server.Principal{}, unauthenticated("the bearer token is neither a TelemetryLake token (tlk_…) nor a JWT")
	}
}

// bearerToken takes the credentials out of an Authorization header value. The scheme is
// case-insensitive (RFC 9110). "Bearer%20<token>" is accepted too: the OTel JS exporter does not
// percent-decode OTEL_EXPORTER_OTLP_HEADERS, so users who follow the spec's encoding advice send
// exactly that (docs/contracts/otlp-http.md §2, "Client headers").
func bearerToken(header string) (string, bool) {
	const scheme = "Bearer"
	if len(header) <= len(scheme) || !strings.EqualFold(header[:len(scheme)], scheme) {
		return "", false
	}
	rest := header[len(scheme):]
	switch {
	case rest[0] == ' ':
		rest = strings.TrimLeft(rest, " ")
	case strings.HasPrefix(rest, "%20"):
		rest = rest[len("%20"):]
	default:
		return "", false
	}
	if rest == "" || strings.ContainsAny(rest, " \t") {
		return "", false
	}
	return rest, true
}

func (c *Chain) authenticateToken(bearer string, signal layout.Signal) (server.Principal, error) {
	if c.tokens == nil {
		c.unknown.Inc()
		return server.Principal{}, unauthenticated("bearer tokens (tlk_…) are not enabled on this ingester")
	}
	if len(bearer) != tokenfile.Length {
		c.malformed.Inc()
		return server.Principal{}, unauthenticated("the bearer token is not a well-formed TelemetryLake token: tlk_ and 43 base64url characters")
	}
	t := c.tokens.current.Load().lookup(bearer)
	if t == nil {
		c.unknown.Inc()
		return server.Principal{}, unauthenticated("the bearer token is not known: it was never issued or it has been revoked")
	}
	if !t.notAfter.IsZero() && !c.now().Before(t.notAfter) {
		c.metrics.counter(t.principal.MetricLabel, resultExpired).Inc()
		return t.principal, unauthenticated(fmt.Sprintf("the bearer token %q expired at %s: ask for a new one", t.name, t.notAfter.UTC().Format(time.RFC3339)))
	}
	if !t.ingest {
		c.metrics.counter(t.principal.MetricLabel, resultForbidden).Inc()
		return t.principal, forbidden(fmt.Sprintf("the bearer token %q is for queries only: it lacks the %s permission", t.name, tokenfile.PermissionIngest))
	}
	if !signalAllowed(t.signals, signal) {
		c.metrics.counter(t.principal.MetricLabel, resultForbidden).Inc()
		return t.principal, forbidden(fmt.Sprintf("the bearer token %q may not send %s; it may send %s", t.name, signal, joinSignals(t.signals)))
	}
	t.accepted.Inc()
	return t.principal, nil
}

func (c *Chain) authenticateJWT(ctx context.Context, jwt string, signal layout.Signal) (server.Principal, error) {
	iss, ok := unverifiedIssuer(jwt)
	if !ok {
		c.malformed.Inc()
		return server.Principal{}, unauthenticated("the bearer token is not a well-formed JWT: its payload has no iss claim")
	}
	is := c.issuers[iss]
	if is == nil {
		c.unknown.Inc()
		return server.Principal{}, unauthenticated(fmt.Sprintf("JWTs from issuer %q are not accepted here", truncate(iss, 200)))
	}
	return is.authenticate(ctx, jwt, signal)
}

func signalAllowed(allowed []layout.Signal, s layout.Signal) bool {
	return len(allowed) == 0 || slices.Contains(allowed, s)
}

func joinSignals(signals []layout.Signal) string {
	names := make([]string, len(signals))
	for i, s := range signals {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

func unauthenticated(msg string) error { return &server.AuthError{Message: msg} }

func forbidden(msg string) error { return &server.AuthError{Forbidden: true, Message: msg} }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
