package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/code"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/api/tokenfile"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// TestServiceAccountTokensFromARealKubeAPIServer runs the chain against a real kube-apiserver as
// the issuer of service-account tokens, minted with the TokenRequest API, beside a second OIDC
// issuer with its own keys.
//
// The expired case: TokenRequest refuses expirationSeconds below 600 (a fixed minimum in the API's
// validation; no apiserver flag lowers it), so waiting for a real token to expire would take ten
// minutes. Instead the chain's clock is moved eleven minutes ahead for that one request: the token
// is still the apiserver's own, with its real signature and exp. The second issuer covers a token
// whose exp is really in the past.
func TestServiceAccountTokensFromARealKubeAPIServer(t *testing.T) {
	t.Parallel()
	kube := harness.StartKubeAPIServer(t)
	kube.CreateServiceAccount(t, "shop", "checkout")
	kube.CreateServiceAccount(t, "shop", "payments")
	kube.CreateServiceAccount(t, "observability", "agent")
	corp := startTestIssuer(t)

	var clockOffset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(clockOffset.Load())) }
	chain, reg := newChain(t, ingesterconfig.Auth{
		Kubernetes: []ingesterconfig.KubernetesIssuer{{
			Name:            "test-cluster",
			IssuerURL:       kube.IssuerURL,
			Audiences:       []string{"telemetrylake"},
			CAFile:          kube.CAFile,
			TokenFile:       kube.ReaderToken(t),
			ServiceAccounts: []string{"system:serviceaccount:shop:checkout"},
			Namespaces:      []string{"observability"},
		}},
		OIDC: []ingesterconfig.OIDCIssuer{{
			Name:           "corp",
			IssuerURL:      corp.URL,
			Audiences:      []string{"telemetrylake", "telemetrylake-dev"},
			CAFile:         corp.CAFile,
			RequiredClaims: map[string]string{"email_verified": "true"},
			Signals:        []string{"traces"},
		}},
	}, Options{Now: now, KeyRefetchInterval: time.Millisecond}) // a rotation below follows a fetch closely; the bound has a test of its own
	ing := startIngester(t, chain)
	waitFor(t, 20*time.Second, "discovery of both issuers", func() bool {
		for _, is := range chain.issuers {
			if is.verifier.Load() == nil {
				return false
			}
		}
		return true
	})

	saToken := func(ns, name string, audiences ...string) string {
		tok := kube.ServiceAccountToken(t, ns, name, 10*time.Minute, audiences...)
		noLeak(tok)
		return tok
	}
	verified := map[string]any{"email_verified": true}
	cases := []struct {
		name    string
		token   func() string
		signal  layout.Signal
		ahead   time.Duration // how far the chain's clock is moved for this request
		status  int
		message string
	}{
		{"a service account on the allow-list lands its data",
			func() string { return saToken("shop", "checkout", "telemetrylake") }, layout.Traces, 0, http.StatusOK, ""},
		{"a service account in an allowed namespace lands its data",
			func() string { return saToken("observability", "agent", "telemetrylake") }, layout.Traces, 0, http.StatusOK, ""},
		{"a service-account token for another audience is refused",
			func() string { return saToken("shop", "checkout", "vault") }, layout.Traces, 0, http.StatusUnauthorized, "audience"},
		{"a service-account token with the apiserver's own audience is refused",
			func() string { return saToken("shop", "checkout") }, layout.Traces, 0, http.StatusUnauthorized, "audience"},
		{"a service account that is not allowed is refused",
			func() string { return saToken("shop", "payments", "telemetrylake") }, layout.Traces, 0, http.StatusUnauthorized, "system:serviceaccount:shop:payments is not allowed"},
		{"an expired service-account token is refused with a message that says so",
			func() string { return saToken("shop", "checkout", "telemetrylake") }, layout.Traces, 11 * time.Minute, http.StatusUnauthorized, "expired at"},
		{"a token from the second issuer lands its data beside the cluster's",
			func() string { return corp.sign(t, verified) }, layout.Traces, 0, http.StatusOK, ""},
		{"a token from the second issuer for its other audience lands its data",
			func() string {
				return corp.sign(t, map[string]any{"email_verified": true, "aud": []string{"telemetrylake-dev"}})
			}, layout.Traces, 0, http.StatusOK, ""},
		{"an expired token from the second issuer is refused with a message that says so",
			func() string {
				return corp.sign(t, map[string]any{"email_verified": true, "exp": time.Now().Add(-time.Minute).Unix()})
			}, layout.Traces, 0, http.StatusUnauthorized, "expired at"},
		{"a token from the second issuer without a required claim is refused",
			func() string { return corp.sign(t, nil) }, layout.Traces, 0, http.StatusUnauthorized, "email_verified"},
		{"a token signed by a key the issuer does not publish is refused",
			func() string { return corp.signUnpublished(t, map[string]any{"iss": corp.URL, "email_verified": true}) }, layout.Traces, 0, http.StatusUnauthorized, "not valid"},
		{"a token that names one issuer but is signed by the other is refused",
			func() string { return corp.sign(t, map[string]any{"iss": kube.IssuerURL, "email_verified": true}) }, layout.Traces, 0, http.StatusUnauthorized, "not valid"},
		{"a second-issuer caller sending a signal the issuer may not send is forbidden",
			func() string { return corp.sign(t, verified) }, layout.Logs, 0, http.StatusForbidden, "may not send logs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := storedBlocks(t, ing.Store)
			token := tc.token()
			clockOffset.Store(int64(tc.ahead))
			got := export(t, ing, tc.signal, "Bearer "+token, false)
			clockOffset.Store(0)
			if got.Status != tc.status {
				t.Fatalf("status %d (%s), want %d", got.Status, got.Body, tc.status)
			}
			after := storedBlocks(t, ing.Store)
			if tc.status == http.StatusOK {
				if after != before+1 {
					t.Errorf("%d blocks stored, want 1", after-before)
				}
				return
			}
			if after != before {
				t.Errorf("a refused request stored %d blocks", after-before)
			}
			st := got.RPCStatus(t)
			wantCode := code.Code_UNAUTHENTICATED
			if tc.status == http.StatusForbidden {
				wantCode = code.Code_PERMISSION_DENIED
			}
			if st.Code != int32(wantCode) || !strings.Contains(st.Message, tc.message) {
				t.Errorf("google.rpc.Status %d %q, want %d and a message that says %q", st.Code, st.Message, wantCode, tc.message)
			}
			if strings.Contains(st.Message, token) {
				t.Error("the answer echoes the JWT")
			}
		})
	}

	t.Run("a rotated signing key is fetched and accepted", func(t *testing.T) {
		corp.rotate(t)
		if got := export(t, ing, layout.Traces, "Bearer "+corp.sign(t, verified), false); got.Status != http.StatusOK {
			t.Fatalf("status %d (%s)", got.Status, got.Body)
		}
	})

	t.Run("metrics label OIDC callers by issuer, never by subject", func(t *testing.T) {
		counts := authCounts(t, reg)
		if counts["kubernetes:test-cluster/accepted"] != 2 || counts["oidc:corp/accepted"] != 3 {
			t.Errorf("accepted counts: %v", counts)
		}
		for series := range counts {
			if strings.Contains(series, "system:serviceaccount") || strings.Contains(series, "user-1") {
				t.Errorf("a subject became a label: %s", series)
			}
		}
	})
}

// TestIssuerOutages checks that an issuer that is down costs its own callers a quick 401 and
// costs everyone else nothing.
func TestIssuerOutages(t *testing.T) {
	t.Parallel()
	corp := startTestIssuer(t)
	// An issuer nobody listens for: a port that was free a moment ago.
	ln := harness.Listen(t)
	downURL := "https://" + ln.Addr().String()
	ln.Close()
	bearer, entry := newTestToken(t, "checkout")
	chain, _ := newChain(t, ingesterconfig.Auth{
		TokenFile: writeTempTokenFile(t, entry),
		OIDC: []ingesterconfig.OIDCIssuer{
			{Name: "corp", IssuerURL: corp.URL, Audiences: []string{"telemetrylake"}, CAFile: corp.CAFile},
			{Name: "down", IssuerURL: downURL, Audiences: []string{"telemetrylake"}},
		},
	}, Options{KeyRefetchInterval: time.Millisecond}) // the fetches below follow each other closely on purpose
	ing := startIngester(t, chain)
	waitFor(t, 10*time.Second, "discovery of the issuer that is up", func() bool { return chain.issuers[corp.URL].verifier.Load() != nil })

	t.Run("a JWT from an issuer that was never reachable gets 401 at once", func(t *testing.T) {
		jwt := unsignedJWT(`{"iss":"` + downURL + `","sub":"x"}`)
		start := time.Now()
		got := export(t, ing, layout.Traces, "Bearer "+jwt, false)
		if got.Status != http.StatusUnauthorized || !strings.Contains(got.RPCStatus(t).Message, `issuer "down" is not available`) {
			t.Fatalf("status %d %s", got.Status, got.Body)
		}
		if took := time.Since(start); took > 500*time.Millisecond {
			t.Errorf("took %v", took)
		}
	})

	t.Run("while the key set hangs, a JWT with a new key gets 401 within the verify timeout and tokens are not slowed", func(t *testing.T) {
		corp.rotate(t) // the chain has not seen this key: verifying needs the key set
		corp.setHanging(true)
		defer corp.setHanging(false)
		jwt := corp.sign(t, nil)

		var wg sync.WaitGroup
		var jwtStatus int
		var jwtTook time.Duration
		wg.Go(func() {
			start := time.Now()
			jwtStatus = export(t, ing, layout.Traces, "Bearer "+jwt, false).Status
			jwtTook = time.Since(start)
		})
		time.Sleep(100 * time.Millisecond) // the JWT request is now waiting on the key set
		var slowest time.Duration
		for range 20 {
			start := time.Now()
			if got := export(t, ing, layout.Traces, "Bearer "+bearer, false); got.Status != http.StatusOK {
				t.Fatalf("a bearer token during the outage: %d %s", got.Status, got.Body)
			}
			slowest = max(slowest, time.Since(start))
		}
		wg.Wait()
		if jwtStatus != http.StatusUnauthorized || jwtTook > verifyTimeout+time.Second {
			t.Errorf("the JWT got %d after %v, want 401 within %v", jwtStatus, jwtTook, verifyTimeout+time.Second)
		}
		if slowest > 500*time.Millisecond {
			t.Errorf("a bearer-token request took %v during the outage", slowest)
		}
		t.Logf("JWT refused after %v; slowest of 20 bearer-token requests meanwhile: %v", jwtTook.Round(time.Millisecond), slowest.Round(time.Millisecond))
	})

	t.Run("JWTs with cached keys still work while the key set hangs", func(t *testing.T) {
		corp.setHanging(false)
		// This fetches the key set once more, so that the newest key is cached. The fetch that hung
		// ends now, empty-handed, and a request that comes before it has ended shares its failure;
		// the one after gets a fetch of its own.
		waitFor(t, 5*time.Second, "a JWT with the newest key accepted once the key set is back", func() bool {
			return export(t, ing, layout.Traces, "Bearer "+corp.sign(t, nil), false).Status == http.StatusOK
		})
		corp.setHanging(true)
		defer corp.setHanging(false)
		start := time.Now()
		if got := export(t, ing, layout.Traces, "Bearer "+corp.sign(t, nil), false); got.Status != http.StatusOK {
			t.Fatalf("with a cached key during the outage: %d %s", got.Status, got.Body)
		}
		if took := time.Since(start); took > 500*time.Millisecond {
			t.Errorf("took %v", took)
		}
	})
}

// TestMadeUpKeyIDsDoNotMakeTheIngesterFetchKeysAtRequestRate: JWTs that name key ids the issuer
// never published, or that carry a forged signature under a real key id, are refused without a
// fetch of the key set each, while a real key rotation is still picked up within the interval.
func TestMadeUpKeyIDsDoNotMakeTheIngesterFetchKeysAtRequestRate(t *testing.T) {
	t.Parallel()
	corp := startTestIssuer(t)
	const interval = time.Second
	chain, _ := newChain(t, ingesterconfig.Auth{OIDC: []ingesterconfig.OIDCIssuer{
		{Name: "corp", IssuerURL: corp.URL, Audiences: []string{"telemetrylake"}, CAFile: corp.CAFile},
	}}, Options{KeyRefetchInterval: interval})
	ing := startIngester(t, chain)
	waitFor(t, 10*time.Second, "discovery", func() bool { return chain.issuers[corp.URL].verifier.Load() != nil })
	if got := export(t, ing, layout.Traces, "Bearer "+corp.sign(t, nil), false); got.Status != http.StatusOK {
		t.Fatalf("a valid JWT: %d %s", got.Status, got.Body)
	}
	before := corp.fetches.Load()

	start := time.Now()
	const forged = 60
	claims := map[string]any{"iss": corp.URL, "sub": "mallory", "aud": []string{"telemetrylake"}, "exp": time.Now().Add(time.Hour).Unix()}
	for i := range forged {
		var jwt string
		if i%2 == 0 {
			jwt = corp.signUnpublished(t, claims) // the real key id, another key
		} else {
			key, err := rsa.GenerateKey(rand.Reader, 1024)
			if err != nil {
				t.Fatal(err)
			}
			jwt = signJWT(t, key, fmt.Sprintf("made-up-%d", i), claims)
		}
		got := export(t, ing, layout.Traces, "Bearer "+jwt, false)
		if got.Status != http.StatusUnauthorized || !strings.Contains(got.RPCStatus(t).Message, "no key the issuer publishes verifies") {
			t.Fatalf("forged JWT %d: %d %s", i, got.Status, got.Body)
		}
	}
	took := time.Since(start)
	// One fetch per interval at most, and one more for the interval under way when they began.
	allowed := int64(took/interval) + 1
	if fetched := corp.fetches.Load() - before; fetched > allowed {
		t.Errorf("%d forged JWTs in %v made the ingester fetch the key set %d times, want at most %d", forged, took.Round(time.Millisecond), fetched, allowed)
	}

	corp.rotate(t)
	jwt := corp.sign(t, nil)
	deadline := time.Now().Add(interval + 5*time.Second)
	for {
		got := export(t, ing, layout.Traces, "Bearer "+jwt, false)
		if got.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a JWT signed with the rotated key still gets %d %s", got.Status, got.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func writeTempTokenFile(t *testing.T, entries ...tokenfile.Entry) string {
	t.Helper()
	path := t.TempDir() + "/tokens.yaml"
	writeFile(t, path, tokenFileYAML(entries...))
	return path
}
