package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
)

// DefaultKeyRefetchInterval is the least time between two fetches of an issuer's key set that a
// JWT with an unknown key can cause.
const DefaultKeyRefetchInterval = 10 * time.Second

// issuerKeys is an issuer's published signing keys, fetched again when a JWT names a key id not
// cached, as key rotation needs, but at most once per refetchInterval. go-oidc's own remote key
// set fetches again for every JWT that its cached keys do not verify, so anyone could make the
// ingester fetch the issuer's keys at its request rate by sending JWTs with made-up key ids or
// signatures.
type issuerKeys struct {
	url             string
	client          *http.Client
	refetchInterval time.Duration

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	lastFetch time.Time  // when the last fetch started; zero before the first
	fetching  *keysFetch // the fetch under way, if any
}

type keysFetch struct {
	done chan struct{}
	err  error
}

// verifiableAlgs are the signature algorithms a key set's keys can verify; go-oidc has already
// checked the JWT's algorithm against the issuer's own list by the time VerifySignature runs.
var verifiableAlgs = []jose.SignatureAlgorithm{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA,
}

// errNoKeyVerifies is a JWT that no published key verifies, even after a fetch of the key set, or
// when another fetch is not due yet.
var errNoKeyVerifies = errors.New("no key the issuer publishes verifies the JWT's signature")

// VerifySignature implements oidc.KeySet.
func (k *issuerKeys) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	jws, err := jose.ParseSigned(jwt, verifiableAlgs)
	if err != nil {
		return nil, fmt.Errorf("malformed JWT: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("a JWT must have exactly one signature")
	}
	keyID := jws.Signatures[0].Header.KeyID
	payload, ok, known := k.verify(jws, keyID)
	switch {
	case ok:
		return payload, nil
	case known:
		// The issuer's key of that id does not verify it: a forged or damaged signature, which a
		// fresh copy of the same key would not verify either.
		return nil, errNoKeyVerifies
	}
	if err := k.refetch(ctx); err != nil {
		return nil, err
	}
	if payload, ok, _ := k.verify(jws, keyID); ok {
		return payload, nil
	}
	return nil, errNoKeyVerifies
}

// verify tries the cached keys that the JWT's key id names (all of them when it names none).
// known says that a key of that id is cached.
func (k *issuerKeys) verify(jws *jose.JSONWebSignature, keyID string) (payload []byte, ok, known bool) {
	k.mu.Lock()
	keys := k.keys
	k.mu.Unlock()
	for i := range keys {
		if keyID != "" && keys[i].KeyID != keyID {
			continue
		}
		known = keyID != ""
		if payload, err := jws.Verify(&keys[i]); err == nil {
			return payload, true, known
		}
	}
	return nil, false, known
}

// refetch fetches the key set again, or joins the fetch under way; it answers errNoKeyVerifies
// without fetching when the last fetch started less than refetchInterval ago. The fetch runs on
// its own, bounded by the client's timeout, so that a caller who gives up does not cancel it for
// the others.
func (k *issuerKeys) refetch(ctx context.Context) error {
	k.mu.Lock()
	f := k.fetching
	if f == nil {
		if !k.lastFetch.IsZero() && time.Since(k.lastFetch) < k.refetchInterval {
			k.mu.Unlock()
			return errNoKeyVerifies
		}
		f = &keysFetch{done: make(chan struct{})}
		k.fetching, k.lastFetch = f, time.Now()
		go k.fetch(f)
	}
	k.mu.Unlock()
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (k *issuerKeys) fetch(f *keysFetch) {
	keys, err := k.download()
	k.mu.Lock()
	if err == nil {
		k.keys = keys
	} else {
		// refuseUnverified tells an unreachable issuer by these words.
		f.err = fmt.Errorf("fetching keys: %w", err)
	}
	k.fetching = nil
	k.mu.Unlock()
	close(f.done)
}

// maxKeySetBytes bounds a key set's size; real ones hold a few keys of a few hundred bytes each.
const maxKeySetBytes = 1 << 20

func (k *issuerKeys) download() ([]jose.JSONWebKey, error) {
	resp, err := k.client.Get(k.url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", k.url, resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxKeySetBytes)).Decode(&set); err != nil {
		return nil, fmt.Errorf("GET %s: not a JSON Web Key Set: %w", k.url, err)
	}
	return set.Keys, nil
}
