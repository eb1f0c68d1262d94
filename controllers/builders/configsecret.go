package builders

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// Where the ingester finds its files. Everything it reads from Secrets comes from one projected
// volume mounted at wellknown.ConfigMountPath (see volumes in deployment.go):
//
//	/etc/telemetrylake/config.yaml                  the config Secret's config.yaml
//	/etc/telemetrylake/auth/tokens.yaml             the auth Secret's tokens.yaml (re-read on change)
//	/etc/telemetrylake/auth/oidc/<secret>/ca.crt    ca.crt of each spec.auth.oidc[].caSecretRef
//	/etc/telemetrylake/storage/ca.crt               the storage Secret's ca.crt, when the class has a CA
//	/etc/telemetrylake/storage/credentials.json     the storage Secret's STS session (credentials mode
//	                                                AssumeRole), followed as it is replaced
//
// One volume rather than one per Secret, because wellknown.AuthMountPath lies inside
// wellknown.ConfigMountPath: one volume needs no mount point created inside another, read-only,
// one, and the kubelet updates all its files in one atomic swap.
const (
	oidcCADir              = wellknown.AuthMountPath + "/oidc"
	storageCAFile          = wellknown.ConfigMountPath + "/storage/" + wellknown.SecretKeyCA
	storageCredentialsFile = wellknown.ConfigMountPath + "/storage/" + wellknown.SecretKeyCredentialsFile
)

// The pod's own service-account credentials, which the Kubernetes issuer uses to read the
// apiserver's discovery document and key set. They are mounted where a pod normally finds them,
// but only when spec.auth.serviceAccounts needs them (see serviceAccountTokenVolume).
const (
	serviceAccountDir     = "/var/run/secrets/kubernetes.io/serviceaccount"
	serviceAccountCAFile  = serviceAccountDir + "/ca.crt"
	serviceAccountToken   = serviceAccountDir + "/token"
	kubernetesIssuerName  = "kubernetes"
	serviceAccountSubject = "system:serviceaccount:"
)

// oidcCAFile is where the CA of the Secret named secret is mounted.
func oidcCAFile(secret string) string {
	return path.Join(oidcCADir, secret, wellknown.SecretKeyCA)
}

// ConfigSecret is the Secret <name>-ingester-config holding the ingester's config file under
// config.yaml. The file is rendered deterministically (struct order, sorted maps, spec order for
// lists), so its hash changes only when its meaning does.
//
// It returns an error for a spec the ingester would refuse at start, so that the controller can say
// so in a condition instead of leaving pods in a crash loop.
func ConfigSecret(in Inputs) (*corev1.Secret, error) {
	cfg, err := ingesterConfig(in)
	if err != nil {
		return nil, err
	}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("render the ingester config of %s/%s: %w", in.Lake.Namespace, in.Lake.Name, err)
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: corev1.SchemeGroupVersion.String(), Kind: "Secret"},
		ObjectMeta: objectMeta(in.Lake, NamesFor(in.Lake).ConfigSecret, wellknown.ComponentConfig),
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{wellknown.SecretKeyConfig: raw},
	}, nil
}

// ingesterConfig is the config file of lake's ingester.
func ingesterConfig(in Inputs) (ingesterconfig.Config, error) {
	lake := in.Lake
	if in.StorageURL == "" {
		return ingesterconfig.Config{}, fmt.Errorf("TelemetryLake %s/%s: no storage URL resolved yet for its ingester", lake.Namespace, lake.Name)
	}
	spec := lake.Spec.Ingester
	cfg := ingesterconfig.Config{
		Listen:         ingesterconfig.DefaultListen,
		AdminListen:    ingesterconfig.DefaultAdminListen,
		Storage:        in.StorageURL,
		Tenant:         lake.Namespace + "/" + lake.Name,
		LogLevel:       orDefault(spec.LogLevel, defaultLogLevel),
		AllowAnonymous: lake.Spec.Auth.AllowAnonymous,
		Limits: ingesterconfig.Limits{
			MaxBodyBytes: ptr.Deref(spec.MaxRequestBodyBytes, ingesterconfig.DefaultMaxBodyBytes),
		},
		ShutdownDelay:       ingesterconfig.Duration{Duration: shutdownDelay},
		ShutdownGracePeriod: ingesterconfig.Duration{Duration: shutdownGracePeriod},
		Auth: ingesterconfig.Auth{
			// Always set, even without tokens: the auth Secret always exists (possibly with no
			// tokens), so a lake with no credentials configured runs and refuses everyone, as the
			// API promises, instead of an ingester that refuses to start; and adding the first
			// token needs no new config.
			TokenFile: wellknown.TokenFile,
		},
	}

	seen := map[string]string{} // issuer URL -> the field that configured it
	for i, o := range lake.Spec.Auth.OIDC {
		field := fmt.Sprintf("spec.auth.oidc[%d]", i)
		if prev, dup := seen[o.IssuerURL]; dup {
			return ingesterconfig.Config{}, fmt.Errorf("TelemetryLake %s/%s: %s.issuerURL %s is also %s.issuerURL: merge the two entries", lake.Namespace, lake.Name, field, o.IssuerURL, prev)
		}
		seen[o.IssuerURL] = field
		issuer := ingesterconfig.OIDCIssuer{
			Name:           oidcIssuerName(o.IssuerURL),
			IssuerURL:      o.IssuerURL,
			Audiences:      slices.Clone(o.Audiences),
			RequiredClaims: maps.Clone(o.RequiredClaims),
		}
		if o.CASecretRef != nil && o.CASecretRef.Name != "" {
			issuer.CAFile = oidcCAFile(o.CASecretRef.Name)
		}
		cfg.Auth.OIDC = append(cfg.Auth.OIDC, issuer)
	}

	if refs := lake.Spec.Auth.ServiceAccounts; len(refs) > 0 {
		if in.ServiceAccountIssuer == "" {
			return ingesterconfig.Config{}, fmt.Errorf("TelemetryLake %s/%s: spec.auth.serviceAccounts is set but the cluster's service-account issuer is not known", lake.Namespace, lake.Name)
		}
		if prev, dup := seen[in.ServiceAccountIssuer]; dup {
			return ingesterconfig.Config{}, fmt.Errorf("TelemetryLake %s/%s: %s.issuerURL %s is the cluster's own service-account issuer: use spec.auth.serviceAccounts for in-cluster callers", lake.Namespace, lake.Name, prev, in.ServiceAccountIssuer)
		}
		accounts, namespaces := allowedServiceAccounts(lake.Namespace, refs)
		cfg.Auth.Kubernetes = []ingesterconfig.KubernetesIssuer{{
			Name:            kubernetesIssuerName,
			IssuerURL:       in.ServiceAccountIssuer,
			Audiences:       []string{wellknown.ServiceAccountAudience},
			CAFile:          serviceAccountCAFile,
			TokenFile:       serviceAccountToken,
			ServiceAccounts: accounts,
			Namespaces:      namespaces,
		}}
	}

	if err := cfg.Validate(); err != nil {
		return ingesterconfig.Config{}, fmt.Errorf("TelemetryLake %s/%s: the ingester would refuse its config: %w", lake.Namespace, lake.Name, err)
	}
	return cfg, nil
}

// oidcIssuerName labels an issuer in the ingester's logs and metrics: its URL without the scheme,
// which is unique (issuer URLs are) and says which provider it is.
func oidcIssuerName(issuerURL string) string {
	return strings.TrimSuffix(strings.TrimPrefix(issuerURL, "https://"), "/")
}

// allowedServiceAccounts splits spec.auth.serviceAccounts into the ingester's two allow-lists:
// named accounts as system:serviceaccount:<ns>:<name>, and namespaces whose every account may send.
// An empty namespace is the lake's own. Both lists are sorted and without duplicates; an account
// whose namespace is allowed as a whole is left out.
func allowedServiceAccounts(lakeNamespace string, refs []v1alpha1.ServiceAccountRef) (accounts, namespaces []string) {
	for _, r := range refs {
		if r.Name == "" {
			namespaces = append(namespaces, orDefault(r.Namespace, lakeNamespace))
		}
	}
	slices.Sort(namespaces)
	namespaces = slices.Compact(namespaces)
	for _, r := range refs {
		ns := orDefault(r.Namespace, lakeNamespace)
		if r.Name != "" && !slices.Contains(namespaces, ns) {
			accounts = append(accounts, serviceAccountSubject+ns+":"+r.Name)
		}
	}
	slices.Sort(accounts)
	return slices.Compact(accounts), namespaces
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
