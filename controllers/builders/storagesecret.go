package builders

import (
	"bytes"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/lake/s3client"
)

// StorageCredentials are the tenant's credentials for its bucket or prefix: an IAM user's access
// key (s3-iam), an STS session (s3-iam in credentials mode AssumeRole) or a copy of the class's
// (s3-static).
type StorageCredentials struct {
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken and Expires are an STS session's; empty for a key that does not expire.
	SessionToken string
	Expires      time.Time
	// CA is the PEM bundle that signs the object store's certificate, copied from the class's
	// s3.caSecretRef (which lives in the operator's namespace, out of the tenant pods' reach).
	// Empty when the class has none.
	CA []byte
	// ProvisionedHash and ProvisionedAt record what the store calls that made these credentials
	// were for and when they ran, so that a later reconcile can tell without calling the store
	// that nothing needs doing. Empty for none.
	ProvisionedHash string
	ProvisionedAt   time.Time
}

// StorageSecret is the Secret <name>-storage with the tenant's storage credentials under the names
// the AWS SDKs read from the environment, and the store's CA under ca.crt if it has one. The
// filesystem provisioner has none. An STS session also has its token there, and the whole session
// as one file, credentials.json, which the pods mount and follow as it is replaced
// (wellknown.EnvStorageCredentialsFile).
func StorageSecret(lake *v1alpha1.TelemetryLake, creds StorageCredentials) *corev1.Secret {
	return storageSecret(objectMeta(lake, NamesFor(lake).StorageSecret, wellknown.ComponentStorage), creds)
}

// QueryStorageSecret is the Secret <name>-query-storage with the query server's read-only key,
// in the same form as StorageSecret's.
func QueryStorageSecret(lake *v1alpha1.TelemetryLake, creds StorageCredentials) *corev1.Secret {
	return storageSecret(objectMeta(lake, NamesFor(lake).QueryStorageSecret, wellknown.ComponentQuery), creds)
}

func storageSecret(meta metav1.ObjectMeta, creds StorageCredentials) *corev1.Secret {
	data := map[string][]byte{
		wellknown.SecretKeyAccessKeyID:     []byte(creds.AccessKeyID),
		wellknown.SecretKeySecretAccessKey: []byte(creds.SecretAccessKey),
	}
	if len(creds.CA) > 0 {
		data[wellknown.SecretKeyCA] = bytes.Clone(creds.CA)
	}
	if creds.SessionToken != "" {
		expires := creds.Expires.UTC()
		data[wellknown.SecretKeySessionToken] = []byte(creds.SessionToken)
		data[wellknown.SecretKeyCredentialsFile] = s3client.CredentialsFile{AccessKeyID: creds.AccessKeyID,
			SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken, Expiration: &expires}.Encode()
	}
	if creds.ProvisionedHash != "" {
		meta.Annotations = map[string]string{
			wellknown.AnnotationStorageProvisioned:   creds.ProvisionedHash,
			wellknown.AnnotationStorageProvisionedAt: creds.ProvisionedAt.UTC().Format(time.RFC3339),
		}
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: corev1.SchemeGroupVersion.String(), Kind: "Secret"},
		ObjectMeta: meta,
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
}

// rollingPart is what of a storage Secret rolls the pods that read it when it changes (see
// ConfigHash): all of it for a key that the pods read from their environment at start, but only the
// CA for an STS session, which they read from the mounted credentials.json and follow as the
// kubelet replaces it. Rolling on a session's data would restart every tenant's pods two thirds
// into each session, for nothing.
func rollingPart(s *corev1.Secret) *corev1.Secret {
	if _, sessions := s.Data[wellknown.SecretKeyCredentialsFile]; !sessions {
		return s
	}
	part := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: s.Name}, Data: map[string][]byte{}}
	if ca, ok := s.Data[wellknown.SecretKeyCA]; ok {
		part.Data[wellknown.SecretKeyCA] = ca
	}
	return part
}
