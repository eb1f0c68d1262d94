package harness

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestKubeAPIServerIsAnOIDCIssuer checks what the ingester relies on: the discovery document names
// the issuer and a jwks_uri on 127.0.0.1, both are readable with a service-account token (and not
// anonymously), and a minted token carries the issuer and audience asked for.
func TestKubeAPIServerIsAnOIDCIssuer(t *testing.T) {
	t.Parallel()
	kube := StartKubeAPIServer(t)
	ca, err := os.ReadFile(kube.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("CAFile holds no PEM certificate")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	readerToken, err := os.ReadFile(kube.ReaderToken(t))
	if err != nil {
		t.Fatal(err)
	}
	get := func(url, token string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}

	t.Run("anonymous clients may not read the discovery document", func(t *testing.T) {
		status, _ := get(kube.IssuerURL+"/.well-known/openid-configuration", "")
		if status == http.StatusOK {
			t.Fatal("discovery served anonymously; the harness doc says it is not")
		}
		t.Logf("anonymous discovery: %d", status)
	})

	var discovery struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	t.Run("a service account reads the discovery document and the key set", func(t *testing.T) {
		status, body := get(kube.IssuerURL+"/.well-known/openid-configuration", string(readerToken))
		if status != http.StatusOK {
			t.Fatalf("discovery: %d %s", status, body)
		}
		if err := json.Unmarshal(body, &discovery); err != nil {
			t.Fatal(err)
		}
		if discovery.Issuer != kube.IssuerURL || discovery.JWKSURI != kube.IssuerURL+"/openid/v1/jwks" {
			t.Fatalf("discovery says issuer %q and jwks_uri %q; want %q and its /openid/v1/jwks", discovery.Issuer, discovery.JWKSURI, kube.IssuerURL)
		}
		if status, body := get(discovery.JWKSURI, string(readerToken)); status != http.StatusOK || !strings.Contains(string(body), `"keys"`) {
			t.Fatalf("jwks: %d %s", status, body)
		}
	})

	t.Run("a minted token carries the issuer and audience", func(t *testing.T) {
		kube.CreateServiceAccount(t, "apps", "checkout")
		token := kube.ServiceAccountToken(t, "apps", "checkout", 10*time.Minute, "telemetrylake")
		claims := jwtClaims(t, token)
		if claims["iss"] != kube.IssuerURL || claims["sub"] != "system:serviceaccount:apps:checkout" {
			t.Fatalf("claims %v", claims)
		}
		if aud, _ := claims["aud"].([]any); len(aud) != 1 || aud[0] != "telemetrylake" {
			t.Fatalf("aud %v, want [telemetrylake]", claims["aud"])
		}
	})
}

func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}
