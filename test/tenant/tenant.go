// Package tenant reads what the operator created for one TelemetryLake, in the shape its pods get
// it: the ingester's config as mounted, the storage credentials and a token Secret's keys as
// environment. test/e2e and `make demo` (through hack/tenantenv) use it to run a tenant's clients
// and readers as its pods would; the Secret names come from controllers/builders and the keys
// from api/wellknown, never from a copy of them.
//
// It is a development aid, not part of the product. It only reads.
package tenant

import (
	"context"
	"fmt"
	"net/url"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers/builders"
)

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
