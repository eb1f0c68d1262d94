package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// testIssuer is a minimal OIDC issuer on 127.0.0.1 over TLS: a discovery document and a key set
// with its own RSA keys. It can rotate its key and make its key set hang, to test outages.
type testIssuer struct {
	URL    string
	CAFile string

	mu        sync.Mutex
	keys      []*rsa.PrivateKey // the last one signs
	published []*rsa.PrivateKey // what the key set lists
	hang      chan struct{}     // while non-nil, key-set requests wait on it
	srv       *httptest.Server
	fetches   atomic.Int64 // key-set requests served or hung

}

func startTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	ti := &testIssuer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                ti.URL,
			"jwks_uri":                              ti.URL + "/keys",
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"subject_types_supported":               []string{"public"},
			"response_types_supported":              []string{"id_token"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		ti.fetches.Add(1)
		ti.mu.Lock()
		hang := ti.hang
		var set jose.JSONWebKeySet
		for i, k := range ti.published {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid(i), Algorithm: "RS256", Use: "sig"})
		}
		ti.mu.Unlock()
		if hang != nil {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
			return
		}
		writeJSON(w, set)
	})
	ti.srv = httptest.NewTLSServer(mux)
	t.Cleanup(func() {
		ti.setHanging(false)
		ti.srv.Close()
	})
	ti.URL = ti.srv.URL
	ti.CAFile = filepath.Join(t.TempDir(), "issuer-ca.crt")
	writeFile(t, ti.CAFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ti.srv.Certificate().Raw})))
	ti.rotate(t)
	return ti
}

func kid(i int) string { return "key-" + string(rune('a'+i)) }

// rotate adds a new signing key and publishes it beside the old ones.
func (ti *testIssuer) rotate(t *testing.T) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.keys = append(ti.keys, key)
	ti.published = append(ti.published, key)
}

// signUnpublished signs with a key that the key set never lists.
func (ti *testIssuer) signUnpublished(t *testing.T, claims map[string]any) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return signJWT(t, key, kid(0), claims)
}

func (ti *testIssuer) setHanging(on bool) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	switch {
	case on && ti.hang == nil:
		ti.hang = make(chan struct{})
	case !on && ti.hang != nil:
		close(ti.hang)
		ti.hang = nil
	}
}

// sign issues a JWT with the current key. Claims default to a valid token for audience
// telemetrylake, valid from a minute ago for an hour; a nil value removes a claim.
func (ti *testIssuer) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	now := time.Now()
	all := map[string]any{
		"iss": ti.URL, "sub": "user-1", "aud": []string{"telemetrylake"},
		"iat": now.Add(-time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	for k, v := range claims {
		if v == nil {
			delete(all, k)
		} else {
			all[k] = v
		}
	}
	ti.mu.Lock()
	key, id := ti.keys[len(ti.keys)-1], kid(len(ti.keys)-1)
	ti.mu.Unlock()
	return signJWT(t, key, id, all)
}

func signJWT(t *testing.T, key *rsa.PrivateKey, keyID string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: keyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	noLeak(raw)
	return raw
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
