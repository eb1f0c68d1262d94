package builders

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// IssuedToken is a bearer token the controller holds for spec.auth.tokens[]: generated, read back
// from its Secret, or just rotated.
type IssuedToken struct {
	// Spec is the token's entry in spec.auth.tokens.
	Spec v1alpha1.TokenSpec
	// Value is the bearer token itself ("tlk_…").
	Value string
	// IssuedAt is when Value was generated. Only its seconds count: it is stored in an RFC 3339
	// annotation, and a token read back must build the same objects as when it was issued.
	IssuedAt time.Time
	// RotationHandled is the rotate-token request that produced Value, if any.
	RotationHandled string
	// PreviousSHA256 is the hash of the token Value replaced, accepted until PreviousNotAfter;
	// empty outside a rotation's overlap.
	PreviousSHA256   string
	PreviousNotAfter time.Time
}

// ExpiresAt is when the token stops working: IssuedAt plus spec.expiresAfter, or zero for never.
func (t IssuedToken) ExpiresAt() time.Time {
	if t.Spec.ExpiresAfter == nil || t.Spec.ExpiresAfter.Duration <= 0 {
		return time.Time{}
	}
	return t.IssuedAt.UTC().Truncate(time.Second).Add(t.Spec.ExpiresAfter.Duration)
}

// TokenSecret is the Secret <name>-token-<token> that an application uses with
// envFrom: [{secretRef: {name: ...}}]: the token, and the two OTEL_EXPORTER_OTLP_* variables that
// point an OpenTelemetry SDK at the lake with it. Its annotations carry the token's issue time and
// rotation state.
//
// The header is "Authorization=Bearer <token>" with a literal space, not the %20 the spec
// suggests: the Go SDK decodes either, but some JS exporters send the value verbatim, and the
// literal space works with both (docs/contracts/otlp-http.md §2, "Client headers").
func TokenSecret(lake *v1alpha1.TelemetryLake, t IssuedToken) *corev1.Secret {
	meta := objectMeta(lake, NamesFor(lake).TokenSecret(t.Spec.Name), wellknown.ComponentToken)
	meta.Annotations = map[string]string{wellknown.AnnotationTokenIssuedAt: rfc3339(t.IssuedAt)}
	if t.PreviousSHA256 != "" {
		meta.Annotations[wellknown.AnnotationTokenPreviousSHA256] = t.PreviousSHA256
		meta.Annotations[wellknown.AnnotationTokenPreviousNotAfter] = rfc3339(t.PreviousNotAfter)
	}
	if t.RotationHandled != "" {
		meta.Annotations[wellknown.AnnotationTokenRotationHandled] = t.RotationHandled
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: corev1.SchemeGroupVersion.String(), Kind: "Secret"},
		ObjectMeta: meta,
		Type:       corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			wellknown.SecretKeyToken:        []byte(t.Value),
			wellknown.SecretKeyOTLPEndpoint: []byte(Endpoint(lake)),
			wellknown.SecretKeyOTLPHeaders:  []byte("Authorization=Bearer " + t.Value),
		},
	}
}

func rfc3339(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

// ReadToken is the inverse of TokenSecret: the token and its rotation state as its Secret holds
// them. A missing Secret (nil) gives a token with no value. A previous token whose overlap has
// ended by now is left out.
func ReadToken(spec v1alpha1.TokenSpec, s *corev1.Secret, now time.Time) IssuedToken {
	t := IssuedToken{Spec: spec}
	if s == nil {
		return t
	}
	t.Value = string(s.Data[wellknown.SecretKeyToken])
	t.RotationHandled = s.Annotations[wellknown.AnnotationTokenRotationHandled]
	t.IssuedAt, _ = time.Parse(time.RFC3339, s.Annotations[wellknown.AnnotationTokenIssuedAt])
	notAfter, err := time.Parse(time.RFC3339, s.Annotations[wellknown.AnnotationTokenPreviousNotAfter])
	if err == nil && notAfter.After(now) {
		t.PreviousSHA256, t.PreviousNotAfter = s.Annotations[wellknown.AnnotationTokenPreviousSHA256], notAfter
	}
	return t
}
