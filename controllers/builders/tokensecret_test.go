package builders

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

func TestTokenSecret(t *testing.T) {
	tokens := inputs(variantAuth).Tokens
	fresh := IssuedToken{Spec: v1alpha1.TokenSpec{Name: "claude"}, Value: tokens[0].Value, IssuedAt: tokens[0].IssuedAt}
	for _, c := range []struct {
		variant string
		token   IssuedToken
	}{
		{"fresh", fresh},
		{"rotated", tokens[0]},
	} {
		t.Run(c.variant, func(t *testing.T) {
			checkGolden(t, "tokensecret", c.variant, TokenSecret(inputs(variantAuth).Lake, c.token))
		})
	}
}

// The header must reach the ingester as "Bearer <token>" from both the Go and the JS SDKs, which
// only a literal space does (docs/contracts/otlp-http.md §2, "Client headers").
func TestTokenSecretHeaderHasALiteralSpace(t *testing.T) {
	token := inputs(variantAuth).Tokens[0]
	s := TokenSecret(inputs(variantAuth).Lake, token)
	got := string(s.Data[wellknown.SecretKeyOTLPHeaders])
	if want := "Authorization=Bearer " + token.Value; got != want {
		t.Errorf("%s = %q, want %q", wellknown.SecretKeyOTLPHeaders, got, want)
	}
	if strings.Contains(got, "%20") {
		t.Errorf("%s = %q is percent-encoded; JS exporters would send %%20 verbatim", wellknown.SecretKeyOTLPHeaders, got)
	}
	if got, want := string(s.Data[wellknown.SecretKeyOTLPEndpoint]), "http://team-a-ingester.shop.svc:4318/ingestion/otlp"; got != want {
		t.Errorf("%s = %q, want %q", wellknown.SecretKeyOTLPEndpoint, got, want)
	}
	if got := string(s.Data[wellknown.SecretKeyToken]); got != token.Value {
		t.Errorf("%s = %q, want the token", wellknown.SecretKeyToken, got)
	}
	if got := s.Annotations[wellknown.AnnotationTokenIssuedAt]; got != "2026-10-16T12:03:27Z" {
		t.Errorf("issued-at = %q, want the time in UTC to the second", got)
	}
}

func TestIssuedTokenExpiresAt(t *testing.T) {
	issued := time.Date(2026, 10, 16, 14, 3, 27, 987654321, time.FixedZone("CEST", 2*3600))
	cases := []struct {
		name  string
		after *metav1.Duration
		want  time.Time
	}{
		{"it never expires without expiresAfter", nil, time.Time{}},
		{"it expires expiresAfter after the second it was issued", &metav1.Duration{Duration: time.Hour}, time.Date(2026, 10, 16, 13, 3, 27, 0, time.UTC)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := IssuedToken{Spec: v1alpha1.TokenSpec{Name: "x", ExpiresAfter: c.after}, IssuedAt: issued}
			if got := tok.ExpiresAt(); !got.Equal(c.want) {
				t.Errorf("ExpiresAt = %v, want %v", got, c.want)
			}
		})
	}
}

// The controller reads a token back from its Secret's annotations; the objects built from what it
// read must be those built when the token was issued, or every reconcile would write.
func TestATokenReadBackBuildsTheSameObjects(t *testing.T) {
	in := inputs(variantAuth)
	issued := in.Tokens
	var readBack []IssuedToken
	for _, tok := range issued {
		back := ReadToken(tok.Spec, TokenSecret(in.Lake, tok), tok.IssuedAt)
		readBack = append(readBack, back)
	}
	a, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	in.Tokens = readBack
	b, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Apply {
		if x, y := goldenYAML(t, a.Apply[i]), goldenYAML(t, b.Apply[i]); string(x) != string(y) {
			t.Errorf("%s differs once its tokens are read back:\n%s\n---\n%s", a.Apply[i].GetName(), x, y)
		}
	}
}
