// Package tenant reads what the operator created for one TelemetryLake, in the shape its pods get
// it: the ingester's config and token file as mounted, the storage credentials and a token
// Secret's keys as environment. test/e2e and `make demo` (through hack/tenantenv) use it to stand
// real processes in for a lake's simulated pods; the Secret names come from controllers/builders
// and the keys from api/wellknown, never from a copy of them.
//
// It is a development aid, not part of the product. Besides reading, it mints one
// service-account token (see WriteIngesterFiles); it never changes an object.
package tenant

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers/builders"
)

// ServiceAccountDir is where a pod finds its service-account files, and where the ingester config
// of a lake with spec.auth.serviceAccounts says to read them.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// Tenant is one TelemetryLake and the names of what the operator made for it.
type Tenant struct {
	Key   types.NamespacedName
	Names builders.Names
	c     client.Client
}

// Get reads the TelemetryLake key.
func Get(ctx context.Context, c client.Client, key types.NamespacedName) (*Tenant, error) {
	var lake lakev1.TelemetryLake
	if err := c.Get(ctx, key, &lake); err != nil {
		return nil, fmt.Errorf("TelemetryLake %s: %w", key, err)
	}
	return &Tenant{Key: key, Names: builders.NamesFor(&lake), c: c}, nil
}

// secretData returns one key of one of the tenant's Secrets.
func (t *Tenant) secretData(ctx context.Context, name, key string) ([]byte, error) {
	sec, err := t.secret(ctx, name)
	if err != nil {
		return nil, err
	}
	v, ok := sec.Data[key]
	if !ok {
		return nil, fmt.Errorf("Secret %s/%s has no key %s", t.Key.Namespace, name, key)
	}
	return v, nil
}

func (t *Tenant) secret(ctx context.Context, name string) (*corev1.Secret, error) {
	var sec corev1.Secret
	if err := t.c.Get(ctx, types.NamespacedName{Namespace: t.Key.Namespace, Name: name}, &sec); err != nil {
		return nil, fmt.Errorf("the operator's Secret %s/%s: %w", t.Key.Namespace, name, err)
	}
	return &sec, nil
}

// StorageCredentials are the tenant's own, scoped storage keys, from its storage Secret.
type StorageCredentials struct {
	AccessKeyID, SecretAccessKey string
	// SessionToken is an STS session's (credentials mode AssumeRole); empty for an IAM user's key.
	SessionToken string
}

// Env is the credentials as the AWS SDKs read them, as the ingester's pod gets them (in credentials
// mode AssumeRole the pod reads them from a file it follows as it is replaced; these lines are the
// session of the moment, valid until it expires).
func (s StorageCredentials) Env() []string {
	env := []string{
		wellknown.SecretKeyAccessKeyID + "=" + s.AccessKeyID,
		wellknown.SecretKeySecretAccessKey + "=" + s.SecretAccessKey,
	}
	if s.SessionToken != "" {
		env = append(env, wellknown.SecretKeySessionToken+"="+s.SessionToken)
	}
	return env
}

// StorageCredentials reads the storage Secret.
func (t *Tenant) StorageCredentials(ctx context.Context) (StorageCredentials, error) {
	sec, err := t.secret(ctx, t.Names.StorageSecret)
	if err != nil {
		return StorageCredentials{}, err
	}
	creds := StorageCredentials{
		AccessKeyID:     string(sec.Data[wellknown.SecretKeyAccessKeyID]),
		SecretAccessKey: string(sec.Data[wellknown.SecretKeySecretAccessKey]),
		SessionToken:    string(sec.Data[wellknown.SecretKeySessionToken]),
	}
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return StorageCredentials{}, fmt.Errorf("Secret %s/%s lacks %s or %s", t.Key.Namespace, sec.Name,
			wellknown.SecretKeyAccessKeyID, wellknown.SecretKeySecretAccessKey)
	}
	return creds, nil
}

// TokenEnv is the environment a pod gets from `envFrom` of the Secret of the token called token,
// as NAME=VALUE, sorted. If otlpAddr is not empty, the endpoint's host and port (a Service name
// that resolves only in the cluster) are replaced by it.
func (t *Tenant) TokenEnv(ctx context.Context, token, otlpAddr string) ([]string, error) {
	sec, err := t.secret(ctx, t.Names.TokenSecret(token))
	if err != nil {
		return nil, err
	}
	env := make([]string, 0, len(sec.Data))
	for key, value := range sec.Data {
		v := string(value)
		if key == wellknown.SecretKeyOTLPEndpoint && otlpAddr != "" {
			u, err := url.Parse(v)
			if err != nil {
				return nil, fmt.Errorf("%s of Secret %s/%s: %w", key, t.Key.Namespace, sec.Name, err)
			}
			u.Host = otlpAddr
			v = u.String()
		}
		env = append(env, key+"="+v)
	}
	slices.Sort(env)
	return env, nil
}

// IngesterConfig reads and checks the ingester's config from the config Secret, as rendered (the
// paths in it are the pod's).
func (t *Tenant) IngesterConfig(ctx context.Context) (ingesterconfig.Config, error) {
	raw, err := t.secretData(ctx, t.Names.ConfigSecret, wellknown.SecretKeyConfig)
	if err != nil {
		return ingesterconfig.Config{}, err
	}
	var cfg ingesterconfig.Config
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		return cfg, fmt.Errorf("the rendered config of %s: %w\n%s", t.Key, err, raw)
	}
	return cfg, cfg.Validate()
}

// IngesterFiles are the files WriteIngesterFiles wrote, and the config they hold.
type IngesterFiles struct {
	Config string // config.yaml, from the config Secret
	Tokens string // tokens.yaml, from the auth Secret
	Parsed ingesterconfig.Config
	// ServiceAccount is the directory of the service-account files the config now names instead
	// of ServiceAccountDir, or "" if it names none; ServiceAccountName is the ServiceAccount whose
	// token is in it.
	ServiceAccount     string
	ServiceAccountName string
}

// WriteIngesterFiles writes into dir what the ingester's pod mounts: config.yaml from the config
// Secret and tokens.yaml from the auth Secret, readable by the owner only.
//
// With spec.auth.serviceAccounts the config names the pod's own service-account files, which the
// ingester reads at start and has no flag for. Then it also writes the files the pod would get
// into dir/serviceaccount (the namespace's kube-root-ca.crt and a new token of the Deployment's
// ServiceAccount) and points the config at them: the one edit to the rendered config.
func (t *Tenant) WriteIngesterFiles(ctx context.Context, dir string) (IngesterFiles, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return IngesterFiles{}, err
	}
	config, err := t.secretData(ctx, t.Names.ConfigSecret, wellknown.SecretKeyConfig)
	if err != nil {
		return IngesterFiles{}, err
	}
	tokens, err := t.secretData(ctx, t.Names.AuthSecret, wellknown.SecretKeyTokens)
	if err != nil {
		return IngesterFiles{}, err
	}
	files := IngesterFiles{Config: filepath.Join(dir, wellknown.SecretKeyConfig), Tokens: filepath.Join(dir, wellknown.SecretKeyTokens)}
	if strings.Contains(string(config), ServiceAccountDir+"/") {
		files.ServiceAccount = filepath.Join(dir, "serviceaccount")
		if files.ServiceAccountName, err = t.writeServiceAccountFiles(ctx, files.ServiceAccount); err != nil {
			return IngesterFiles{}, err
		}
		config = []byte(strings.ReplaceAll(string(config), ServiceAccountDir+"/", files.ServiceAccount+"/"))
	}
	if err := os.WriteFile(files.Config, config, 0o600); err != nil {
		return IngesterFiles{}, err
	}
	if err := os.WriteFile(files.Tokens, tokens, 0o600); err != nil {
		return IngesterFiles{}, err
	}
	if files.Parsed, err = ingesterconfig.Load(files.Config); err != nil {
		return IngesterFiles{}, fmt.Errorf("the rendered config of %s does not load: %w\n%s", t.Key, err, config)
	}
	if files.Parsed.Storage == "" {
		return IngesterFiles{}, fmt.Errorf("the rendered config of %s names no storage:\n%s", t.Key, config)
	}
	return files, nil
}

// writeServiceAccountFiles writes what a pod of the ingester finds in its service-account
// directory: the namespace's kube-root-ca.crt and a token of the Deployment's ServiceAccount.
func (t *Tenant) writeServiceAccountFiles(ctx context.Context, dir string) (serviceAccount string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	// The controller manager publishes kube-root-ca.crt into every namespace soon after it appears.
	ctx30, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var cm corev1.ConfigMap
	for {
		err := t.c.Get(ctx30, types.NamespacedName{Namespace: t.Key.Namespace, Name: "kube-root-ca.crt"}, &cm)
		if err == nil {
			break
		}
		select {
		case <-ctx30.Done():
			return "", fmt.Errorf("no ConfigMap kube-root-ca.crt in namespace %s: %w", t.Key.Namespace, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte(cm.Data["ca.crt"]), 0o600); err != nil {
		return "", err
	}
	var dep appsv1.Deployment
	if err := t.c.Get(ctx, types.NamespacedName{Namespace: t.Key.Namespace, Name: t.Names.Ingester}, &dep); err != nil {
		return "", fmt.Errorf("the ingester Deployment of %s: %w", t.Key, err)
	}
	sa := &corev1.ServiceAccount{}
	sa.Namespace, sa.Name = t.Key.Namespace, dep.Spec.Template.Spec.ServiceAccountName
	day := int64(24 * time.Hour / time.Second)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &day}}
	if err := t.c.SubResource("token").Create(ctx, sa, req); err != nil {
		return "", fmt.Errorf("a token of ServiceAccount %s/%s: %w", sa.Namespace, sa.Name, err)
	}
	return sa.Name, os.WriteFile(filepath.Join(dir, "token"), []byte(req.Status.Token), 0o600)
}
