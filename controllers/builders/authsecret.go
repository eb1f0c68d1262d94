package builders

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/telemetrylake/telemetrylake/api/tokenfile"
	"github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// previousTokenSuffix names the outgoing token of a rotation in the token file. Spec token names
// cannot contain a dot, so "<name>.previous" never collides with another token.
const previousTokenSuffix = ".previous"

// AuthSecret is the Secret <name>-ingester-auth holding the ingester's token file under
// tokens.yaml: for each token its hash, expiry and signals, and during a rotation's overlap the
// outgoing token's hash until the overlap ends. It never holds a token. It always exists, with an
// empty list when lake has no tokens (see ConfigSecret).
//
// Entries are sorted by name, with sorted signals and times in UTC to the second, so the file
// depends only on what the tokens are, not on the order they were found in.
func AuthSecret(lake *v1alpha1.TelemetryLake, tokens []IssuedToken) (*corev1.Secret, error) {
	file := tokenfile.File{Tokens: []tokenfile.Entry{}}
	for _, t := range tokens {
		signals := make([]string, 0, len(t.Spec.Signals))
		for _, s := range t.Spec.Signals {
			signals = append(signals, string(s))
		}
		slices.Sort(signals)
		signals = slices.Compact(signals)
		var permissions []string
		for _, p := range t.Spec.Permissions {
			permissions = append(permissions, string(p))
		}
		slices.Sort(permissions)
		permissions = slices.Compact(permissions)
		file.Tokens = append(file.Tokens, tokenfile.Entry{
			Name:        t.Spec.Name,
			SHA256:      tokenfile.Hash(t.Value),
			NotAfter:    timeOrNil(t.ExpiresAt()),
			Signals:     signals,
			Permissions: permissions,
		})
		if t.PreviousSHA256 != "" {
			file.Tokens = append(file.Tokens, tokenfile.Entry{
				Name:        t.Spec.Name + previousTokenSuffix,
				SHA256:      t.PreviousSHA256,
				NotAfter:    timeOrNil(t.PreviousNotAfter.UTC().Truncate(time.Second)),
				Signals:     signals,
				Permissions: permissions,
			})
		}
	}
	slices.SortFunc(file.Tokens, func(a, b tokenfile.Entry) int { return cmp.Compare(a.Name, b.Name) })
	for i := 1; i < len(file.Tokens); i++ {
		if file.Tokens[i].Name == file.Tokens[i-1].Name {
			return nil, fmt.Errorf("TelemetryLake %s/%s: spec.auth.tokens names %q twice", lake.Namespace, lake.Name, file.Tokens[i].Name)
		}
	}
	raw, err := yaml.Marshal(file)
	if err != nil {
		return nil, fmt.Errorf("render the token file of %s/%s: %w", lake.Namespace, lake.Name, err)
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: corev1.SchemeGroupVersion.String(), Kind: "Secret"},
		ObjectMeta: objectMeta(lake, NamesFor(lake).AuthSecret, wellknown.ComponentAuth),
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{wellknown.SecretKeyTokens: raw},
	}, nil
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
