package controllers

import (
	"errors"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/telemetrylake/telemetrylake/api/tokenfile"
	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers/builders"
)

var (
	issued = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	now    = issued.Add(48 * time.Hour)
)

// tokenLake is a lake with the one token these tests issue.
var tokenLake = &lakev1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Namespace: "team-a"}}

// tokenSecret is the Secret the controller would have written for t, built by the real builder
// so that tokenAt reads what it will really find.
func tokenSecret(t builders.IssuedToken) *corev1.Secret {
	return builders.TokenSecret(tokenLake, t)
}

// values hands out tlk_1, tlk_2, ... so that a test can say which value a token got.
func values() func() (string, error) {
	n := 0
	return func() (string, error) {
		n++
		return fmt.Sprintf("tlk_%d", n), nil
	}
}

func TestTokenAt(t *testing.T) {
	claude := lakev1.TokenSpec{Name: "claude"}
	overlap := time.Hour
	cases := []struct {
		name   string
		secret *corev1.Secret
		rotate rotation
		want   builders.IssuedToken
	}{
		{
			name: "a token seen for the first time gets a new value, issued now",
			want: builders.IssuedToken{Spec: claude, Value: "tlk_1", IssuedAt: now},
		},
		{
			name:   "a token with a Secret keeps its value and issue time",
			secret: tokenSecret(builders.IssuedToken{Spec: claude, Value: "tlk_old", IssuedAt: issued}),
			want:   builders.IssuedToken{Spec: claude, Value: "tlk_old", IssuedAt: issued},
		},
		{
			name:   "a rotation asked for gives a successor, and the old value's hash stays valid until the overlap ends",
			secret: tokenSecret(builders.IssuedToken{Spec: claude, Value: "tlk_old", IssuedAt: issued}),
			rotate: rotation{token: "claude", request: "claude"},
			want: builders.IssuedToken{Spec: claude, Value: "tlk_1", IssuedAt: now, RotationHandled: "claude",
				PreviousSHA256: tokenfile.Hash("tlk_old"), PreviousNotAfter: now.Add(overlap)},
		},
		{
			name: "a rotation already handled changes nothing, and the predecessor is valid during the overlap",
			secret: tokenSecret(builders.IssuedToken{Spec: claude, Value: "tlk_new", IssuedAt: now.Add(-time.Minute), RotationHandled: "claude",
				PreviousSHA256: tokenfile.Hash("tlk_old"), PreviousNotAfter: now.Add(59 * time.Minute)}),
			rotate: rotation{token: "claude", request: "claude"},
			want: builders.IssuedToken{Spec: claude, Value: "tlk_new", IssuedAt: now.Add(-time.Minute), RotationHandled: "claude",
				PreviousSHA256: tokenfile.Hash("tlk_old"), PreviousNotAfter: now.Add(59 * time.Minute)},
		},
		{
			name: "once the overlap has ended the predecessor is no longer accepted",
			secret: tokenSecret(builders.IssuedToken{Spec: claude, Value: "tlk_new", IssuedAt: now.Add(-overlap), RotationHandled: "claude",
				PreviousSHA256: tokenfile.Hash("tlk_old"), PreviousNotAfter: now}),
			rotate: rotation{token: "claude", request: "claude"},
			want:   builders.IssuedToken{Spec: claude, Value: "tlk_new", IssuedAt: now.Add(-overlap), RotationHandled: "claude"},
		},
		{
			name:   "a new request value for the same token rotates it again",
			secret: tokenSecret(builders.IssuedToken{Spec: claude, Value: "tlk_second", IssuedAt: issued, RotationHandled: "claude"}),
			rotate: rotation{token: "claude", request: "claude:2"},
			want: builders.IssuedToken{Spec: claude, Value: "tlk_1", IssuedAt: now, RotationHandled: "claude:2",
				PreviousSHA256: tokenfile.Hash("tlk_second"), PreviousNotAfter: now.Add(overlap)},
		},
		{
			name:   "a rotation of another token leaves this one alone",
			secret: tokenSecret(builders.IssuedToken{Spec: claude, Value: "tlk_old", IssuedAt: issued}),
			rotate: rotation{token: "ci", request: "ci"},
			want:   builders.IssuedToken{Spec: claude, Value: "tlk_old", IssuedAt: issued},
		},
		{
			name: "a Secret without an issue time counts its token as issued now",
			secret: &corev1.Secret{Data: map[string][]byte{wellknown.SecretKeyToken: []byte("tlk_old")},
				ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{}}},
			want: builders.IssuedToken{Spec: claude, Value: "tlk_old", IssuedAt: now},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := tokenAt(claude, c.secret, c.rotate, overlap, now, values())
			if err != nil {
				t.Fatal(err)
			}
			if !sameToken(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}

	t.Run("a failure to make a value is returned", func(t *testing.T) {
		broken := func() (string, error) { return "", errors.New("no entropy") }
		if _, err := tokenAt(claude, nil, rotation{}, overlap, now, broken); err == nil {
			t.Error("tokenAt succeeded without a value")
		}
	})
}

// A token's life through its Secret, as successive reconciles see it: issued, rotated on request,
// accepted beside its successor for the overlap, then dropped; the reconcile is asked back when
// the overlap ends.
func TestARotatedTokenOverlapsWithItsSuccessorThenExpires(t *testing.T) {
	claude := lakev1.TokenSpec{Name: "claude"}
	overlap := 24 * time.Hour
	next := values()
	reconcile := func(secret *corev1.Secret, rotate rotation, at time.Time) (builders.IssuedToken, *corev1.Secret) {
		t.Helper()
		tok, err := tokenAt(claude, secret, rotate, overlap, at, next)
		if err != nil {
			t.Fatal(err)
		}
		return tok, tokenSecret(tok)
	}

	first, secret := reconcile(nil, rotation{}, issued)
	rotatedAt := issued.Add(time.Hour)
	rotate := rotation{token: "claude", request: "claude"}
	second, secret := reconcile(secret, rotate, rotatedAt)
	if second.Value == first.Value || second.PreviousSHA256 != tokenfile.Hash(first.Value) {
		t.Fatalf("the rotation did not replace %s and keep its hash: %+v", first.Value, second)
	}
	if wake := nextValidityChange([]builders.IssuedToken{second}, rotatedAt); !wake.Equal(rotatedAt.Add(overlap)) {
		t.Errorf("the reconcile is asked back at %s, want the end of the overlap, %s", wake, rotatedAt.Add(overlap))
	}

	during, secret := reconcile(secret, rotate, rotatedAt.Add(overlap-time.Second))
	if during.Value != second.Value || during.PreviousSHA256 != tokenfile.Hash(first.Value) {
		t.Errorf("a second before the overlap ends, want %s and the hash of %s; got %+v", second.Value, first.Value, during)
	}

	after, _ := reconcile(secret, rotate, rotatedAt.Add(overlap))
	if after.Value != second.Value || after.PreviousSHA256 != "" {
		t.Errorf("once the overlap has ended, want %s alone; got %+v", second.Value, after)
	}
	if wake := nextValidityChange([]builders.IssuedToken{after}, rotatedAt.Add(overlap)); !wake.IsZero() {
		t.Errorf("nothing changes any more, yet the reconcile is asked back at %s", wake)
	}
}

func TestNextValidityChange(t *testing.T) {
	expiring := func(issuedAt time.Time, after time.Duration) builders.IssuedToken {
		return builders.IssuedToken{Spec: lakev1.TokenSpec{Name: "x", ExpiresAfter: &metav1.Duration{Duration: after}}, IssuedAt: issuedAt}
	}
	cases := []struct {
		name   string
		tokens []builders.IssuedToken
		want   time.Time
	}{
		{name: "no tokens never bring the reconcile back"},
		{name: "tokens that never expire never bring it back", tokens: []builders.IssuedToken{{Value: "tlk_1"}}},
		{
			name:   "a predecessor's overlap ending brings it back then",
			tokens: []builders.IssuedToken{{PreviousSHA256: "h", PreviousNotAfter: now.Add(time.Hour)}},
			want:   now.Add(time.Hour),
		},
		{
			name:   "the earliest change wins: an expiry before an overlap's end",
			tokens: []builders.IssuedToken{{PreviousSHA256: "h", PreviousNotAfter: now.Add(time.Hour)}, expiring(now, time.Minute)},
			want:   now.Add(time.Minute),
		},
		{
			name:   "changes already past are not waited for",
			tokens: []builders.IssuedToken{expiring(issued, time.Hour), {PreviousSHA256: "h", PreviousNotAfter: now}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := nextValidityChange(c.tokens, now); !got.Equal(c.want) {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestRotationSettings(t *testing.T) {
	withAnnotation := func(v string) *lakev1.TelemetryLake {
		return &lakev1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{wellknown.AnnotationRotateToken: v}}}
	}
	for _, c := range []struct {
		name string
		lake *lakev1.TelemetryLake
		want rotation
	}{
		{name: "no annotation asks for no rotation", lake: &lakev1.TelemetryLake{}},
		{name: "a token name rotates that token", lake: withAnnotation("claude"), want: rotation{token: "claude", request: "claude"}},
		{name: "a suffix after a colon makes another request for the same token", lake: withAnnotation(" claude:2 "), want: rotation{token: "claude", request: "claude:2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := rotationRequest(c.lake); got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}

	t.Run("an unset overlap is the CRD's default", func(t *testing.T) {
		if got := rotationOverlap(&lakev1.TelemetryLake{}); got != lakev1.DefaultRotationOverlap {
			t.Errorf("got %s, want %s", got, lakev1.DefaultRotationOverlap)
		}
	})
	t.Run("a set overlap is used as it is", func(t *testing.T) {
		lake := &lakev1.TelemetryLake{Spec: lakev1.TelemetryLakeSpec{Auth: lakev1.AuthSpec{RotationOverlap: &metav1.Duration{Duration: 3 * time.Second}}}}
		if got := rotationOverlap(lake); got != 3*time.Second {
			t.Errorf("got %s, want 3s", got)
		}
	})
}

// sameToken compares tokens with times by instant, as they come back from RFC 3339 annotations.
func sameToken(a, b builders.IssuedToken) bool {
	return a.Spec.Name == b.Spec.Name && a.Value == b.Value && a.IssuedAt.Equal(b.IssuedAt) &&
		a.RotationHandled == b.RotationHandled && a.PreviousSHA256 == b.PreviousSHA256 &&
		a.PreviousNotAfter.Equal(b.PreviousNotAfter)
}
