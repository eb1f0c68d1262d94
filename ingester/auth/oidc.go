package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/api/tokenfile"
	"github.com/telemetrylake/telemetrylake/ingester/server"
	"github.com/telemetrylake/telemetrylake/lake/layout"
)

const (
	// discoveryAttemptTimeout bounds one try at the discovery document; failures are retried
	// with backoff up to maxDiscoveryBackoff, forever.
	discoveryAttemptTimeout = 5 * time.Second
	firstDiscoveryBackoff   = time.Second
	maxDiscoveryBackoff     = 30 * time.Second
	// verifyTimeout bounds how long a request waits for a key-set fetch (a JWT signed with a key
	// not yet cached). A request with a cached key never waits on the network.
	verifyTimeout = 2 * time.Second
	// fetchTimeout bounds any one request to an issuer, so that a hung key-set fetch (which runs
	// in the background, one at a time) ends and a later request can try again.
	fetchTimeout = 10 * time.Second
	// keyFetchErrorLogInterval keeps a key-set outage from logging once per request.
	keyFetchErrorLogInterval = 30 * time.Second
)

// issuerConfig is what an OIDC issuer and a Kubernetes cluster have in common.
type issuerConfig struct {
	name           string
	label          string // the metrics label and log prefix: oidc:<name> or kubernetes:<name>
	url            string
	audiences      []string
	caFile         string
	tokenFile      string // bearer token for discovery and key-set requests
	requiredClaims map[string]string
	allowSubject   func(sub string) bool // nil allows every subject
	signals        []string
}

func oidcIssuerConfig(o ingesterconfig.OIDCIssuer) issuerConfig {
	return issuerConfig{
		name: o.Name, label: "oidc:" + o.Name, url: o.IssuerURL, audiences: o.Audiences,
		caFile: o.CAFile, requiredClaims: o.RequiredClaims, signals: o.Signals,
	}
}

func kubernetesIssuerConfig(k ingesterconfig.KubernetesIssuer) issuerConfig {
	accounts, namespaces := slices.Clone(k.ServiceAccounts), slices.Clone(k.Namespaces)
	return issuerConfig{
		name: k.Name, label: "kubernetes:" + k.Name, url: k.IssuerURL, audiences: k.Audiences,
		caFile: k.CAFile, tokenFile: k.TokenFile, signals: k.Signals,
		allowSubject: func(sub string) bool {
			if slices.Contains(accounts, sub) {
				return true
			}
			ns, ok := serviceAccountNamespace(sub)
			return ok && slices.Contains(namespaces, ns)
		},
	}
}

// serviceAccountNamespace reads <ns> out of system:serviceaccount:<ns>:<name>.
func serviceAccountNamespace(sub string) (string, bool) {
	rest, ok := strings.CutPrefix(sub, "system:serviceaccount:")
	if !ok {
		return "", false
	}
	ns, name, ok := strings.Cut(rest, ":")
	return ns, ok && ns != "" && name != "" && !strings.Contains(name, ":")
}

// issuer verifies the JWTs of one issuer. Its verifier appears once discovery has succeeded; its
// key set is cached, and fetched again when a JWT is signed with a key not seen yet (rotation).
type issuer struct {
	issuerConfig
	signals []layout.Signal
	client  *http.Client
	now     func() time.Time
	// keyRefetchInterval bounds how often JWTs with unknown keys make it fetch the key set.
	keyRefetchInterval time.Duration
	metrics            *metrics
	accepted           counter
	log                *slog.Logger

	verifier         atomic.Pointer[oidc.IDTokenVerifier]
	lastKeyErrLogged atomic.Int64 // unix nanoseconds
}

func newIssuer(ic issuerConfig, now func() time.Time, keyRefetchInterval time.Duration, m *metrics, log *slog.Logger) (*issuer, error) {
	signals, err := tokenfile.ParseSignals(ic.signals)
	if err != nil {
		return nil, fmt.Errorf("auth: issuer %q: %w", ic.name, err)
	}
	client, err := issuerHTTPClient(ic.url, ic.caFile, ic.tokenFile)
	if err != nil {
		return nil, fmt.Errorf("auth: issuer %q: %w", ic.name, err)
	}
	return &issuer{
		issuerConfig: ic, signals: signals, client: client, now: now, keyRefetchInterval: keyRefetchInterval, metrics: m,
		accepted: m.counter(ic.label, resultAccepted), log: log.With("issuer", ic.label, "issuer_url", ic.url),
	}, nil
}

// discover reads the discovery document until it succeeds or ctx ends. It runs in the background:
// an issuer that is down at start must not delay the ingester, nor the requests that use other
// credentials.
func (is *issuer) discover(ctx context.Context) {
	backoff := firstDiscoveryBackoff
	for {
		attempt, cancel := context.WithTimeout(ctx, discoveryAttemptTimeout)
		provider, err := oidc.NewProvider(oidc.ClientContext(attempt, is.client), is.url)
		cancel()
		if err == nil {
			err = is.useProvider(provider)
		}
		if err == nil {
			is.log.Info("OIDC issuer ready")
			return
		}
		if ctx.Err() != nil {
			return
		}
		is.log.Warn("OIDC discovery failed: JWTs from this issuer get 401 until it succeeds", "error", err, "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxDiscoveryBackoff)
	}
}

// useProvider makes the verifier for a discovered issuer, with a key set of our own (issuerKeys)
// in place of go-oidc's.
func (is *issuer) useProvider(provider *oidc.Provider) error {
	var discovered struct {
		Issuer  string   `json:"issuer"`
		JWKSURL string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := provider.Claims(&discovered); err != nil {
		return fmt.Errorf("discovery document: %w", err)
	}
	if discovered.JWKSURL == "" {
		return errors.New("the discovery document has no jwks_uri")
	}
	var algs []string // the issuer's, as far as a key set can verify them; none means RS256
	for _, a := range discovered.Algs {
		if slices.Contains(verifiableAlgs, jose.SignatureAlgorithm(a)) {
			algs = append(algs, a)
		}
	}
	keys := &issuerKeys{url: discovered.JWKSURL, client: is.client, refetchInterval: is.keyRefetchInterval}
	is.verifier.Store(oidc.NewVerifier(discovered.Issuer, keys, &oidc.Config{
		// The audience is checked below against a list; go-oidc takes only one.
		SkipClientIDCheck:    true,
		SupportedSigningAlgs: algs,
		Now:                  is.now,
	}))
	return nil
}

func (is *issuer) authenticate(ctx context.Context, jwt string, signal layout.Signal) (server.Principal, error) {
	v := is.verifier.Load()
	if v == nil {
		is.count(resultIssuerUnavailable)
		return server.Principal{}, unauthenticated(fmt.Sprintf("issuer %q is not available: its discovery document could not be read yet; retry later", is.name))
	}
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	tok, err := v.Verify(ctx, jwt)
	if err != nil {
		return server.Principal{}, is.refuseUnverified(ctx, err)
	}
	if !slices.ContainsFunc(tok.Audience, func(aud string) bool { return slices.Contains(is.audiences, aud) }) {
		is.count(resultInvalid)
		return server.Principal{}, unauthenticated(fmt.Sprintf("the JWT's audience %q is not accepted by issuer entry %q: want one of %q", tok.Audience, is.name, is.audiences))
	}
	if err := is.checkRequiredClaims(tok); err != nil {
		is.count(resultInvalid)
		return server.Principal{}, err
	}
	principal := server.Principal{Name: is.label + "/" + tok.Subject, MetricLabel: is.label}
	if is.allowSubject != nil && !is.allowSubject(tok.Subject) {
		is.count(resultNotAllowed)
		return principal, unauthenticated(fmt.Sprintf("%s is not allowed to send to this ingester (issuer %q): add it to the service accounts or namespaces", truncate(tok.Subject, 200), is.name))
	}
	if !signalAllowed(is.signals, signal) {
		is.count(resultForbidden)
		return principal, forbidden(fmt.Sprintf("callers from issuer %q may not send %s; they may send %s", is.name, signal, joinSignals(is.signals)))
	}
	is.accepted.Inc()
	return principal, nil
}

// refuseUnverified turns go-oidc's error into an answer. Its text is not passed on when it may
// quote an issuer's error page.
func (is *issuer) refuseUnverified(ctx context.Context, err error) error {
	var expired *oidc.TokenExpiredError
	switch {
	case errors.As(err, &expired):
		is.count(resultExpired)
		return unauthenticated(fmt.Sprintf("the JWT from issuer %q expired at %s: get a fresh one", is.name, expired.Expiry.UTC().Format(time.RFC3339)))
	case ctx.Err() != nil || strings.Contains(err.Error(), "fetching keys"):
		is.count(resultIssuerUnavailable)
		is.logKeyFetchError(err)
		return unauthenticated(fmt.Sprintf("the signing keys of issuer %q could not be fetched; retry later", is.name))
	default:
		is.count(resultInvalid)
		return unauthenticated(fmt.Sprintf("the JWT from issuer %q is not valid: %s", is.name, truncate(err.Error(), 300)))
	}
}

func (is *issuer) logKeyFetchError(err error) {
	now := time.Now().UnixNano()
	last := is.lastKeyErrLogged.Load()
	if now-last < int64(keyFetchErrorLogInterval) || !is.lastKeyErrLogged.CompareAndSwap(last, now) {
		return
	}
	is.log.Warn("OIDC key set could not be fetched: JWTs signed with keys not cached get 401", "error", err)
}

// checkRequiredClaims compares each required claim's value, as text, so that a config value
// "true" matches a JSON true.
func (is *issuer) checkRequiredClaims(tok *oidc.IDToken) error {
	if len(is.requiredClaims) == 0 {
		return nil
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return unauthenticated("the JWT's claims could not be read: " + err.Error())
	}
	for name, want := range is.requiredClaims {
		got, ok := claims[name]
		if !ok || fmt.Sprint(got) != want {
			return unauthenticated(fmt.Sprintf("the JWT from issuer %q lacks the required claim %s=%q", is.name, name, want))
		}
	}
	return nil
}

func (is *issuer) count(result string) { is.metrics.counter(is.label, result).Inc() }

// unverifiedIssuer reads the iss claim of a JWT without verifying it, only to pick the issuer
// that will verify it.
func unverifiedIssuer(jwt string) (string, bool) {
	_, rest, _ := strings.Cut(jwt, ".")
	payload, _, _ := strings.Cut(rest, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return "", false
	}
	var claims struct {
		Issuer string `json:"iss"`
	}
	if json.Unmarshal(raw, &claims) != nil || claims.Issuer == "" {
		return "", false
	}
	return claims.Issuer, true
}

// issuerHTTPClient is the client for an issuer's discovery document and key set: its own CA
// bundle if one is given, a bearer token if one is given, and a timeout on every request.
func issuerHTTPClient(issuerURL, caFile, tokenFile string) (*http.Client, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	var rt http.RoundTripper = transport
	if tokenFile != "" {
		if _, err := os.ReadFile(tokenFile); err != nil {
			return nil, fmt.Errorf("token file for discovery: %w", err)
		}
		u, err := url.Parse(issuerURL)
		if err != nil {
			return nil, err
		}
		rt = &bearerFromFile{next: transport, path: tokenFile, host: u.Host}
	}
	return &http.Client{Transport: rt, Timeout: fetchTimeout}, nil
}

// bearerFromFile adds "Authorization: Bearer <file content>" to requests to the issuer's own host,
// and to no other: a discovery document could point the key set anywhere. The file is read on
// every request because the kubelet rotates a projected token in place; requests are rare (start,
// and key rotation).
type bearerFromFile struct {
	next http.RoundTripper
	path string
	host string
}

func (b *bearerFromFile) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" || req.URL.Host != b.host {
		return b.next.RoundTrip(req)
	}
	token, err := os.ReadFile(b.path)
	if err != nil {
		return nil, fmt.Errorf("reading the bearer token for the issuer: %w", err)
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	return b.next.RoundTrip(req)
}
