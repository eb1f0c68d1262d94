package builders

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/telemetrylake/telemetrylake/api/tokenfile"
	"github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

func TestAuthSecret(t *testing.T) {
	for _, variant := range []string{variantMinimal, variantAuth} {
		t.Run(variant, func(t *testing.T) {
			in := inputs(variant)
			s, err := AuthSecret(in.Lake, in.Tokens)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "authsecret", variant, s)
		})
	}
}

func TestAuthSecretDoesNotDependOnTokenOrder(t *testing.T) {
	in := inputs(variantAuth)
	tokens := in.Tokens
	a, err := AuthSecret(in.Lake, tokens)
	if err != nil {
		t.Fatal(err)
	}
	reversed := slices.Clone(tokens)
	slices.Reverse(reversed)
	for i := range reversed {
		reversed[i].Spec.Signals = slices.Clone(reversed[i].Spec.Signals)
		slices.Reverse(reversed[i].Spec.Signals)
	}
	b, err := AuthSecret(in.Lake, reversed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Data[wellknown.SecretKeyTokens], b.Data[wellknown.SecretKeyTokens]) {
		t.Errorf("the token file depends on the order of its entries:\n%s\n---\n%s", a.Data[wellknown.SecretKeyTokens], b.Data[wellknown.SecretKeyTokens])
	}
	if !slices.Equal(tokens[0].Spec.Signals, []v1alpha1.Signal{"logs", "metrics"}) {
		t.Errorf("AuthSecret changed its caller's slice: %q", tokens[0].Spec.Signals)
	}
}

func TestAuthSecretRefusesTwoTokensOfOneName(t *testing.T) {
	in := inputs(variantAuth)
	in.Tokens[1].Spec.Name = in.Tokens[0].Spec.Name
	_, err := AuthSecret(in.Lake, in.Tokens)
	if err == nil || !strings.Contains(err.Error(), `spec.auth.tokens names "claude" twice`) {
		t.Fatalf("err = %v, want the duplicate name refused", err)
	}
}

// The ingester parses the token file strictly and refuses all of it for one bad entry; what the
// builder renders is what the ingester's own type reads back, entry for entry.
func TestAuthSecretIsATokenFileTheIngesterReads(t *testing.T) {
	in := inputs(variantAuth)
	s, err := AuthSecret(in.Lake, in.Tokens)
	if err != nil {
		t.Fatal(err)
	}
	var file tokenfile.File
	if err := yaml.UnmarshalStrict(s.Data[wellknown.SecretKeyTokens], &file); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"checkout":        tokenfile.Hash(in.Tokens[1].Value),
		"claude":          tokenfile.Hash(in.Tokens[0].Value),
		"claude.previous": in.Tokens[0].PreviousSHA256,
	}
	if len(file.Tokens) != len(want) {
		t.Fatalf("the file has %d entries, want %d", len(file.Tokens), len(want))
	}
	for _, e := range file.Tokens {
		if want[e.Name] != e.SHA256 {
			t.Errorf("entry %s has sha256 %s, want %s", e.Name, e.SHA256, want[e.Name])
		}
		if strings.Contains(string(s.Data[wellknown.SecretKeyTokens]), "tlk_") {
			t.Error("the token file holds a token")
		}
	}
}
