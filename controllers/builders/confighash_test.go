package builders

import (
	"regexp"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// podHash builds the auth variant after change and returns the config hash on its pod template.
func podHash(t *testing.T, change func(in *Inputs)) string {
	t.Helper()
	in := inputs(variantAuth)
	if change != nil {
		change(&in)
	}
	objs, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs.Apply {
		if d, ok := o.(*appsv1.Deployment); ok {
			return d.Spec.Template.Annotations[wellknown.AnnotationConfigHash]
		}
	}
	t.Fatal("Build returned no Deployment")
	return ""
}

func TestConfigHashRollsThePodsWhenWhatTheyReadChanges(t *testing.T) {
	base := podHash(t, nil)
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(base) {
		t.Fatalf("config hash = %q, want 16 hex digits", base)
	}
	cases := []struct {
		name   string
		change func(in *Inputs)
	}{
		{"a token is added", func(in *Inputs) {
			in.Tokens = append(in.Tokens, IssuedToken{Spec: v1alpha1.TokenSpec{Name: "new"}, Value: "tlk_new", IssuedAt: time.Now()})
		}},
		{"a token is removed", func(in *Inputs) { in.Tokens = in.Tokens[1:] }},
		{"a token is rotated", func(in *Inputs) { in.Tokens[1].Value = "tlk_rotated" }},
		{"a rotation's overlap ends", func(in *Inputs) { in.Tokens[0].PreviousSHA256 = "" }},
		{"a rotation's overlap is shortened", func(in *Inputs) { in.Tokens[0].PreviousNotAfter = in.Tokens[0].PreviousNotAfter.Add(-time.Hour) }},
		{"a token's signals change", func(in *Inputs) { in.Tokens[0].Spec.Signals = []v1alpha1.Signal{"traces"} }},
		{"a token's expiry changes", func(in *Inputs) { in.Tokens[1].Spec.ExpiresAfter = nil }},
		{"the access key is rotated", func(in *Inputs) { in.Credentials.AccessKeyID = "AKIAROTATED" }},
		{"the secret key changes", func(in *Inputs) { in.Credentials.SecretAccessKey = "other" }},
		{"the store's CA changes", func(in *Inputs) { in.Credentials.CA = []byte("another CA") }},
		{"an OIDC issuer's CA changes", func(in *Inputs) { in.OIDCCAs["corp-ca"] = []byte("another CA") }},
		{"the config changes", func(in *Inputs) { in.Lake.Spec.Ingester.LogLevel = "debug" }},
		{"the storage URL changes", func(in *Inputs) { in.StorageURL = "s3://elsewhere/" }},
	}
	for _, c := range cases {
		t.Run("it changes when "+c.name, func(t *testing.T) {
			if got := podHash(t, c.change); got == base {
				t.Errorf("config hash stays %s", got)
			}
		})
	}
}

func TestConfigHashIgnoresWhatPodsDoNotRead(t *testing.T) {
	base := podHash(t, nil)
	cases := []struct {
		name   string
		change func(in *Inputs)
	}{
		{"nothing changes", nil},
		{"the lake's own labels, annotations, generation and status change", func(in *Inputs) {
			in.Lake.Labels["team"] = "b"
			in.Lake.Annotations[wellknown.AnnotationRotateToken] = "claude"
			in.Lake.Generation++
			in.Lake.Status.Endpoint = "elsewhere"
		}},
		{"the tokens come in another order", func(in *Inputs) { in.Tokens[0], in.Tokens[1] = in.Tokens[1], in.Tokens[0] }},
		{"a token's issue time moves within its second", func(in *Inputs) { in.Tokens[1].IssuedAt = in.Tokens[1].IssuedAt.Add(999 * time.Millisecond) }},
		{"a rotation request is recorded", func(in *Inputs) { in.Tokens[1].RotationHandled = "checkout:2" }},
		{"the replicas change", func(in *Inputs) { in.Lake.Spec.Ingester.Replicas = new(int32) }},
		{"an unreferenced CA is passed", func(in *Inputs) { in.OIDCCAs["unused"] = []byte("x") }},
	}
	for _, c := range cases {
		t.Run("it is stable when "+c.name, func(t *testing.T) {
			if got := podHash(t, c.change); got != base {
				t.Errorf("config hash changed from %s to %s", base, got)
			}
		})
	}
}

func TestConfigHash(t *testing.T) {
	secret := func(name string, data map[string]string) *corev1.Secret {
		s := &corev1.Secret{Data: map[string][]byte{}}
		s.Name = name
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	a, b := secret("a", map[string]string{"k": "v"}), secret("b", map[string]string{"x": "y"})
	t.Run("it does not depend on the order of its arguments", func(t *testing.T) {
		if ConfigHash(a, b) != ConfigHash(b, nil, a) {
			t.Error("it does")
		}
	})
	t.Run("it ignores metadata", func(t *testing.T) {
		relabelled := a.DeepCopy()
		relabelled.Labels = map[string]string{"x": "y"}
		relabelled.ResourceVersion = "42"
		if ConfigHash(a, b) != ConfigHash(relabelled, b) {
			t.Error("it does not")
		}
	})
	t.Run("it tells a key moved between Secrets", func(t *testing.T) {
		if ConfigHash(secret("a", map[string]string{"k": "v"}), secret("b", nil)) == ConfigHash(secret("a", nil), secret("b", map[string]string{"k": "v"})) {
			t.Error("it does not")
		}
	})
	t.Run("it tells where a value ends", func(t *testing.T) {
		if ConfigHash(secret("a", map[string]string{"k": "vx"})) == ConfigHash(secret("a", map[string]string{"kv": "x"})) {
			t.Error("it does not")
		}
	})
}
