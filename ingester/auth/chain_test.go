package auth

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/code"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/api/tokenfile"
	"github.com/telemetrylake/telemetrylake/lake/layout"
)

const challenge = `Bearer realm="telemetrylake"`

// TestChainAnswersThroughTheServer sends each kind of credential through the real server and checks
// the whole answer: status, google.rpc.Status code and message, the challenge header, and that a
// refused request stored nothing.
func TestChainAnswersThroughTheServer(t *testing.T) {
	t.Parallel()
	valid, validEntry := newTestToken(t, "checkout")
	logsOnly, logsOnlyEntry := newTestToken(t, "log-shipper", func(e *tokenfile.Entry) { e.Signals = []string{"logs"} })
	expired, expiredEntry := newTestToken(t, "old-batch", func(e *tokenfile.Entry) {
		past := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		e.NotAfter = &past
	})
	revoked, revokedEntry := newTestToken(t, "leaked")
	unknown, _ := newTestToken(t, "never-issued")
	queryOnly, queryOnlyEntry := newTestToken(t, "dashboards", func(e *tokenfile.Entry) { e.Permissions = []string{tokenfile.PermissionQuery} })

	vol := newSecretVolume(t, map[string]string{"tokens.yaml": tokenFileYAML(validEntry, logsOnlyEntry, expiredEntry, revokedEntry, queryOnlyEntry)})
	chain, reg := newChain(t, ingesterconfig.Auth{TokenFile: vol.path("tokens.yaml")}, Options{})
	ing := startIngester(t, chain)
	if got := export(t, ing, layout.Traces, "Bearer "+revoked, false); got.Status != http.StatusOK {
		t.Fatalf("the token to revoke did not work before its removal: %d %s", got.Status, got.Body)
	}
	vol.update(map[string]string{"tokens.yaml": tokenFileYAML(validEntry, logsOnlyEntry, expiredEntry, queryOnlyEntry)})
	waitFor(t, 2*time.Second, "the revocation to take effect", func() bool {
		return chain.tokens.current.Load().lookup(revoked) == nil
	})

	cases := []struct {
		name          string
		authorization string
		signal        layout.Signal
		json          bool
		status        int
		message       string // a part of the google.rpc.Status message
	}{
		{"a request without an Authorization header is refused with a challenge",
			"", layout.Traces, false, http.StatusUnauthorized, "no Authorization header"},
		{"a request with the Basic scheme is refused",
			"Basic dXNlcjpwYXNz", layout.Traces, false, http.StatusUnauthorized, `must read "Bearer <token>"`},
		{"a bare token without a scheme is refused",
			valid, layout.Traces, false, http.StatusUnauthorized, `must read "Bearer <token>"`},
		{"an empty bearer token is refused",
			"Bearer ", layout.Traces, false, http.StatusUnauthorized, `must read "Bearer <token>"`},
		{"a token that was never issued is refused",
			"Bearer " + unknown, layout.Traces, false, http.StatusUnauthorized, "not known"},
		{"a truncated token is refused as malformed",
			"Bearer " + valid[:20], layout.Traces, false, http.StatusUnauthorized, "not a well-formed TelemetryLake token"},
		{"an expired token is refused with a message that says it expired",
			"Bearer " + expired, layout.Traces, false, http.StatusUnauthorized, `"old-batch" expired at`},
		{"a revoked token is refused",
			"Bearer " + revoked, layout.Traces, false, http.StatusUnauthorized, "revoked"},
		{"a JWT from an issuer that is not configured is refused",
			"Bearer " + unsignedJWT(`{"iss":"https://elsewhere.example","sub":"x"}`), layout.Traces, false, http.StatusUnauthorized, "not accepted here"},
		{"a refusal of a JSON request is a JSON google.rpc.Status",
			"Bearer " + unknown, layout.Traces, true, http.StatusUnauthorized, "not known"},
		{"a valid token for a signal it may not send is forbidden",
			"Bearer " + logsOnly, layout.Traces, false, http.StatusForbidden, `"log-shipper" may not send traces; it may send logs`},
		{"a token with only the query permission may not send",
			"Bearer " + queryOnly, layout.Logs, false, http.StatusForbidden, `"dashboards" is for queries only`},
		{"a valid token lands its data",
			"Bearer " + valid, layout.Traces, false, http.StatusOK, ""},
		{"a valid token with a lower-case scheme lands its data",
			"bearer " + valid, layout.Traces, false, http.StatusOK, ""},
		{"a valid token sent as Bearer%20<token> by a JS exporter lands its data",
			"Bearer%20" + valid, layout.Traces, false, http.StatusOK, ""},
		{"a token limited to logs may send logs",
			"Bearer " + logsOnly, layout.Logs, false, http.StatusOK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := storedBlocks(t, ing.Store)
			got := export(t, ing, tc.signal, tc.authorization, tc.json)
			if got.Status != tc.status {
				t.Fatalf("status %d (%s), want %d", got.Status, got.Body, tc.status)
			}
			after := storedBlocks(t, ing.Store)
			if tc.status == http.StatusOK {
				if tc.signal == layout.Traces && after != before+1 {
					t.Errorf("%d blocks stored, want 1", after-before)
				}
				return
			}
			if after != before {
				t.Errorf("a refused request stored %d blocks", after-before)
			}
			if ct := got.Header.Get("Content-Type"); tc.json != strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q for a request that was json=%v", ct, tc.json)
			}
			st := got.RPCStatus(t)
			wantCode := code.Code_UNAUTHENTICATED
			if tc.status == http.StatusForbidden {
				wantCode = code.Code_PERMISSION_DENIED
			}
			if st.Code != int32(wantCode) {
				t.Errorf("google.rpc.Status code %d, want %d (%s)", st.Code, wantCode, wantCode)
			}
			if !strings.Contains(st.Message, tc.message) {
				t.Errorf("message %q does not say %q", st.Message, tc.message)
			}
			wantChallenge := ""
			if tc.status == http.StatusUnauthorized {
				wantChallenge = challenge
			}
			if h := got.Header.Get("WWW-Authenticate"); h != wantChallenge {
				t.Errorf("WWW-Authenticate %q, want %q", h, wantChallenge)
			}
			for _, secret := range []string{valid, logsOnly, expired, revoked, unknown, queryOnly, validEntry.SHA256} {
				if strings.Contains(st.Message, secret) {
					t.Errorf("the answer echoes a credential: %q", st.Message)
				}
			}
		})
	}

	t.Run("metrics count each principal by name and every unidentified caller as none", func(t *testing.T) {
		counts := authCounts(t, reg)
		for series, want := range map[string]float64{
			"token:checkout/accepted":     3,
			"token:log-shipper/forbidden": 1,
			"token:log-shipper/accepted":  1,
			"token:dashboards/forbidden":  1,
			"token:old-batch/expired":     1,
			"none/missing":                1,
			"none/unknown":                4, // never issued (twice), revoked, and a JWT from an unknown issuer
			"none/malformed":              4,
		} {
			if counts[series] != want {
				t.Errorf("%s = %v, want %v (all: %v)", series, counts[series], want, counts)
			}
		}
		if _, ok := counts["token:leaked/accepted"]; ok {
			t.Error("the series of the removed token leaked is still exported")
		}
	})
}

// unsignedJWT is a JWT-shaped string with the given payload and no valid signature.
func unsignedJWT(payload string) string {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	return enc(`{"alg":"RS256","typ":"JWT"}`) + "." + enc(payload) + ".c2ln"
}

// TestBearerTokenParsing pins docs/contracts/otlp-http.md §2, "Client headers": Bearer%20 and any
// case.
func TestBearerTokenParsing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, header, token string
		ok                  bool
	}{
		{"the standard form is read", "Bearer abc", "abc", true},
		{"the scheme is case-insensitive", "BEARER abc", "abc", true},
		{"extra spaces after the scheme are skipped", "Bearer   abc", "abc", true},
		{"a percent-encoded space is accepted", "Bearer%20abc", "abc", true},
		{"a scheme glued to the token is refused", "Bearerabc", "", false},
		{"the Basic scheme is refused", "Basic abc", "", false},
		{"a scheme alone is refused", "Bearer", "", false},
		{"a token with a space inside is refused", "Bearer abc def", "", false},
		{"an empty header is refused", "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := bearerToken(tc.header)
			if got != tc.token || ok != tc.ok {
				t.Fatalf("bearerToken(%q) = %q, %v; want %q, %v", tc.header, got, ok, tc.token, tc.ok)
			}
		})
	}
}

func TestTokenFileIsCheckedWhole(t *testing.T) {
	t.Parallel()
	_, a := newTestToken(t, "a")
	_, b := newTestToken(t, "b")
	cases := []struct {
		name, file, err string
	}{
		{"a file of valid entries is accepted", tokenFileYAML(a, b), ""},
		{"an empty list is accepted", "tokens: []\n", ""},
		{"an unknown field is refused", "tokens:\n- name: a\n  sha256: " + a.SHA256 + "\n  expires: 2020-01-01\n", "unknown field"},
		{"a name used twice is refused", tokenFileYAML(a, tokenfile.Entry{Name: "a", SHA256: b.SHA256}), "appears twice"},
		{"a hash used twice is refused", tokenFileYAML(a, tokenfile.Entry{Name: "b", SHA256: a.SHA256}), "same sha256"},
		{"a hash that is not 64 hex digits is refused", tokenFileYAML(tokenfile.Entry{Name: "a", SHA256: "abc"}), "64 hex digits"},
		{"a token itself in place of its hash is refused", tokenFileYAML(tokenfile.Entry{Name: "a", SHA256: "tlk_" + strings.Repeat("A", 43)}), "64 hex digits"},
		{"a name with a space is refused", tokenFileYAML(tokenfile.Entry{Name: "a b", SHA256: a.SHA256}), "letters, digits"},
		{"an unknown signal is refused", tokenFileYAML(tokenfile.Entry{Name: "a", SHA256: a.SHA256, Signals: []string{"profiles"}}), "unknown signal"},
		{"a notAfter that is not a time is refused", "tokens:\n- name: a\n  sha256: " + a.SHA256 + "\n  notAfter: tomorrow\n", `parsing time "tomorrow"`},
		{"an unquoted notAfter is accepted", "tokens:\n- name: a\n  sha256: " + a.SHA256 + "\n  notAfter: 2027-01-01T00:00:00Z\n", ""},
	}
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseTokenFile([]byte(tc.file), m)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one that says %q", err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), a.SHA256) {
				t.Errorf("the error quotes a hash: %v", err)
			}
		})
	}
}

func TestStartRefusesAnUnusableTokenFile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, content string }{
		{"a missing file stops the start", ""},
		{"a file that does not parse stops the start", "tokens: [\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := t.TempDir() + "/tokens.yaml"
			if tc.content != "" {
				writeFile(t, path, tc.content)
			}
			if _, err := New(t.Context(), ingesterconfig.Auth{TokenFile: path}, Options{Logger: testLogger(t)}); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}
