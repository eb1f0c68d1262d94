package builders

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// Inputs are the facts the controller has resolved before it builds a TelemetryLake's children:
// everything the builders need beyond the TelemetryLake itself, and nothing they would have to
// look up.
type Inputs struct {
	// Lake is the TelemetryLake as the API server defaulted it. Builders read it and never write
	// it; unset optional fields fall back to the CRD's defaults (see defaults.go).
	Lake *v1alpha1.TelemetryLake
	// Class is the LakeStorageClass the lake is provisioned from. Its provisioner decides between
	// S3 credentials and a volume, its s3.caSecretRef whether the ingester trusts a private CA for
	// the store, and its deletionPolicy whether the volume outlives the lake. Nil is read as an S3
	// class without a CA.
	Class *v1alpha1.LakeStorageClass
	// IngesterImage is the ingester image the operator was built with; spec.ingester.image
	// overrides it.
	IngesterImage string
	// LakehouseImage is the lakehouse image the operator was built with; spec.lakehouse.image
	// overrides it.
	LakehouseImage string
	// StorageURL is the ingester's store: S3StorageURL for the S3 provisioners,
	// FilesystemStorageURL for the filesystem one.
	StorageURL string
	// Credentials are the tenant's storage credentials, and the store's CA when the class has one;
	// nil for the filesystem provisioner.
	Credentials *StorageCredentials
	// QueryCredentials are the query server's read-only storage key, and the store's CA when the
	// class has one; nil unless QueryEnabled.
	QueryCredentials *StorageCredentials
	// Tokens are the lake's bearer tokens, one per spec.auth.tokens entry.
	Tokens []IssuedToken
	// ServiceAccountIssuer is the cluster's service-account issuer (the kube-apiserver's
	// --service-account-issuer, the iss of its tokens). It is needed only when
	// spec.auth.serviceAccounts is set.
	ServiceAccountIssuer string
	// OIDCCAs holds, by Secret name, the ca.crt of every Secret that spec.auth.oidc[].caSecretRef
	// names in the lake's namespace. The pods mount those Secrets themselves; the content is only
	// hashed, because the ingester reads a CA once at start and a new one must roll the pods.
	OIDCCAs map[string][]byte
}

// FilesystemStorageURL is the store of the filesystem provisioner: the data volume, where the
// Deployment mounts it.
const FilesystemStorageURL = "file://" + wellknown.DataMountPath

// S3StorageURL is the ingester's store URL for a bucket and prefix of the object store s3, in the
// form the ingester's store parses: s3://bucket/prefix?endpoint=...&path_style=true&region=...
// An empty endpoint means AWS. The query is encoded with sorted keys, so the URL is stable.
func S3StorageURL(bucket, prefix string, s3 *v1alpha1.S3Settings) string {
	u := url.URL{Scheme: "s3", Host: bucket, Path: "/" + strings.Trim(prefix, "/")}
	q := url.Values{}
	if s3 != nil {
		if s3.Endpoint != "" {
			q.Set("endpoint", s3.Endpoint)
		}
		if s3.Region != "" {
			q.Set("region", s3.Region)
		}
		if s3.PathStyle {
			q.Set("path_style", strconv.FormatBool(true))
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (in Inputs) provisioner() v1alpha1.Provisioner {
	if in.Class == nil {
		return ""
	}
	return in.Class.Spec.Provisioner
}

// filesystem reports whether the lake stores on a volume: one replica, no S3 credentials.
func (in Inputs) filesystem() bool {
	return in.provisioner() == v1alpha1.ProvisionerFilesystem
}

// sessions reports whether the storage Secrets hold STS sessions (credentials mode AssumeRole),
// which expire and are replaced: the pods then read them from a mounted file, which the kubelet
// updates, rather than from their environment, which it never does.
func (in Inputs) sessions() bool {
	return in.Class != nil && in.Class.Spec.AssumesRole()
}

// storageCA reports whether the storage Secret carries the object store's CA under ca.crt: the
// controller copies it there from the class's s3.caSecretRef, which lives in the operator's
// namespace where the tenant's pods cannot mount it.
func (in Inputs) storageCA() bool {
	return !in.filesystem() && in.Class != nil && in.Class.Spec.S3 != nil && in.Class.Spec.S3.CASecretRef != nil
}

// deletionPolicy is the policy in force for the lake: see DeletionPolicy.
func (in Inputs) deletionPolicy() v1alpha1.DeletionPolicy {
	return DeletionPolicy(in.Lake, in.Class)
}

// DeletionPolicy is the lake's own policy, else its class's (class may be nil), else the default.
// The builders and the finalizer both ask it, so that a volume is kept exactly when the data is.
func DeletionPolicy(lake *v1alpha1.TelemetryLake, class *v1alpha1.LakeStorageClass) v1alpha1.DeletionPolicy {
	switch {
	case lake.Spec.DeletionPolicy != "":
		return lake.Spec.DeletionPolicy
	case class != nil && class.Spec.DeletionPolicy != "":
		return class.Spec.DeletionPolicy
	default:
		return v1alpha1.DefaultDeletionPolicy
	}
}

// autoscaling is spec.ingester.autoscaling when it is in force: never for the filesystem
// provisioner, whose ReadWriteOnce volume allows one pod.
func (in Inputs) autoscaling() *v1alpha1.AutoscalingSpec {
	if in.filesystem() {
		return nil
	}
	return in.Lake.Spec.Ingester.Autoscaling
}

// replicas is the ingester's replica count when no HorizontalPodAutoscaler owns it.
func (in Inputs) replicas() int32 {
	switch {
	case in.filesystem():
		return 1
	case in.Lake.Spec.Ingester.Replicas != nil:
		return *in.Lake.Spec.Ingester.Replicas
	default:
		return defaultReplicas
	}
}
