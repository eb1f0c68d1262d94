package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Provisioner names how a LakeStorageClass gives each tenant its storage.
// +kubebuilder:validation:Enum=s3-iam;s3-static;filesystem
type Provisioner string

const (
	// ProvisionerS3IAM creates, per tenant, a bucket (or prefix) and an IAM user whose only rights
	// are on it. The admin credentials never leave the operator.
	ProvisionerS3IAM Provisioner = "s3-iam"
	// ProvisionerS3Static gives every tenant a copy of one set of credentials, scoped by prefix
	// only: for object stores without an IAM API. Tenants can then read each other's data.
	ProvisionerS3Static Provisioner = "s3-static"
	// ProvisionerFilesystem gives each tenant a PersistentVolumeClaim and a single ingester replica:
	// for small or development setups.
	ProvisionerFilesystem Provisioner = "filesystem"
)

// BucketMode says whether tenants get buckets of their own or prefixes of one shared bucket.
// +kubebuilder:validation:Enum=BucketPerTenant;SharedBucket
type BucketMode string

const (
	BucketPerTenant BucketMode = "BucketPerTenant"
	SharedBucket    BucketMode = "SharedBucket"
)

// DeletionPolicy says what happens to a tenant's data when its TelemetryLake is deleted.
// +kubebuilder:validation:Enum=Retain;Delete
type DeletionPolicy string

const (
	// DeletionRetain keeps the data; the tenant's credentials are still revoked.
	DeletionRetain DeletionPolicy = "Retain"
	// DeletionDelete removes the tenant's objects, and its bucket when it has one of its own.
	DeletionDelete DeletionPolicy = "Delete"
)

// DefaultDeletionPolicy is the policy of a lake whose class sets none. The +kubebuilder:default
// marker on LakeStorageClassSpec.DeletionPolicy says the same for the API server, and
// defaults_test.go keeps the two equal; the controller falls back on this for an object that was
// not defaulted (a unit test, an object stored under an older CRD).
const DefaultDeletionPolicy = DeletionRetain

// CredentialMode says what kind of credentials an s3-iam class gives each tenant.
// +kubebuilder:validation:Enum=IAMUser;AssumeRole
type CredentialMode string

const (
	// CredentialModeIAMUser makes one IAM user per tenant (two with spec.query), whose one access
	// key never expires and is replaced only when it is lost or the class changes.
	CredentialModeIAMUser CredentialMode = "IAMUser"
	// CredentialModeAssumeRole creates no IAM user: the operator calls STS AssumeRole on one role
	// for all tenants, with a session policy that narrows each session to its tenant's bucket or
	// prefix, and replaces the session before it expires.
	CredentialModeAssumeRole CredentialMode = "AssumeRole"
)

// DefaultSessionDuration is spec.credentials.sessionDuration when it is not set. The
// +kubebuilder:default marker on CredentialSettings.SessionDuration says the same for the API
// server, and defaults_test.go keeps the two equal. One hour is the longest session an AWS role
// grants unless its MaxSessionDuration is raised.
const DefaultSessionDuration = time.Hour

// LakeStorageClassSpec describes an object store and how tenants get their share of it. It is
// owned by platform admins; tenants only name it.
// +kubebuilder:validation:XValidation:rule="!has(self.credentials) || self.credentials.mode != 'AssumeRole' || self.provisioner == 's3-iam'",message="credentials.mode AssumeRole needs the s3-iam provisioner"
// +kubebuilder:validation:XValidation:rule="self.provisioner == 'filesystem' || has(self.s3)",message="s3 is required unless the provisioner is filesystem"
// +kubebuilder:validation:XValidation:rule="self.provisioner != 'filesystem' || has(self.filesystem)",message="filesystem is required when the provisioner is filesystem"
type LakeStorageClassSpec struct {
	// provisioner: s3-iam (a bucket or prefix and an IAM user per tenant), s3-static (shared
	// credentials, scoped by prefix only) or filesystem (a PersistentVolumeClaim per tenant).
	Provisioner Provisioner `json:"provisioner"`

	// s3 says where the object store is and where its admin credentials are.
	// +optional
	S3 *S3Settings `json:"s3,omitempty"`

	// credentials says what kind of credentials the s3-iam provisioner gives each tenant: an IAM
	// user's access key (IAMUser, the default), or short-lived STS sessions of one role
	// (AssumeRole), for stores and accounts where one IAM user per tenant is the limit.
	// +optional
	Credentials *CredentialSettings `json:"credentials,omitempty"`

	// bucket says how tenants are placed in the object store.
	// +kubebuilder:default={mode: BucketPerTenant}
	// +optional
	Bucket BucketPlacement `json:"bucket,omitempty"`

	// filesystem configures the PersistentVolumeClaims of the filesystem provisioner.
	// +optional
	Filesystem *FilesystemSettings `json:"filesystem,omitempty"`

	// retentionDays is how long telemetry is kept, as a lifecycle rule on each tenant's bucket or
	// prefix, unless the tenant sets its own. 0 keeps it forever.
	// +kubebuilder:default=30
	// +kubebuilder:validation:Minimum=0
	// +optional
	RetentionDays *int32 `json:"retentionDays,omitempty"`

	// deletionPolicy applies when a TelemetryLake is deleted, unless it sets its own: Retain keeps
	// the tenant's data, Delete removes it. Credentials are revoked either way.
	// +kubebuilder:default=Retain
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// S3Settings locate an S3-compatible object store (AWS S3, SeaweedFS, Ceph RGW, ...).
type S3Settings struct {
	// endpoint is the S3 (and, for s3-iam, IAM) API URL; empty means AWS.
	// +kubebuilder:validation:Pattern=`^https?://`
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// region of the buckets.
	// +kubebuilder:default=us-east-1
	// +optional
	Region string `json:"region,omitempty"`

	// pathStyle addresses buckets as endpoint/bucket rather than bucket.endpoint; most
	// self-hosted stores need it.
	// +optional
	PathStyle bool `json:"pathStyle,omitempty"`

	// adminCredentialsSecretRef names a Secret in the operator's namespace with the keys
	// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Only the operator reads it.
	AdminCredentialsSecretRef SecretReference `json:"adminCredentialsSecretRef"`

	// caSecretRef names a Secret in the operator's namespace whose key ca.crt holds the PEM
	// bundle that signs the endpoint's certificate.
	// +optional
	CASecretRef *SecretReference `json:"caSecretRef,omitempty"`
}

// CredentialSettings choose how the s3-iam provisioner gives each tenant its credentials.
// +kubebuilder:validation:XValidation:rule="self.mode != 'AssumeRole' || (has(self.roleARN) && size(self.roleARN) > 0)",message="roleARN is required when mode is AssumeRole"
// +kubebuilder:validation:XValidation:rule="self.mode == 'AssumeRole' || !has(self.roleARN)",message="roleARN is only used when mode is AssumeRole"
type CredentialSettings struct {
	// mode: IAMUser makes one IAM user and access key per tenant (and one more, read-only, for
	// spec.query). AssumeRole makes no IAM user: each tenant gets STS sessions of roleARN, each
	// narrowed by a session policy to the tenant's bucket or prefix with the same grants an IAM
	// user would have, written to its storage Secret with their session token and expiry and
	// replaced by the operator two thirds into their lifetime. The ingester, the query server and
	// the lakehouse CronJob read the Secret as a mounted file, so a new session needs no restart.
	// A deleted lake's last session stays valid until it expires: STS cannot revoke one.
	// +kubebuilder:default=IAMUser
	// +optional
	Mode CredentialMode `json:"mode,omitempty"`

	// roleARN is the role the operator assumes with the class's admin credentials, e.g.
	// arn:aws:iam::123456789012:role/telemetrylake-tenants (SeaweedFS spells its roles
	// arn:aws:iam::role/<name>, with no account). Its own policy must allow at least
	// what every tenant needs (s3:PutObject, s3:GetObject, s3:DeleteObject and s3:ListBucket on
	// the tenants' buckets); each session gets only its tenant's share of it.
	// +kubebuilder:validation:Pattern=`^arn:[^:]+:iam::([^:]*:)?role/.+`
	// +optional
	RoleARN string `json:"roleARN,omitempty"`

	// sessionDuration is how long each session is valid: 15m to 12h, as STS allows (on AWS, no
	// longer than the role's MaxSessionDuration). The operator replaces a session two thirds into
	// its lifetime, so a lake at rest costs one AssumeRole per this duration (two with spec.query).
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('15m') && duration(self) <= duration('12h')",message="sessionDuration must be between 15m and 12h"
	// +optional
	SessionDuration *metav1.Duration `json:"sessionDuration,omitempty"`
}

// SecretReference names a Secret in the operator's namespace.
type SecretReference struct {
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// BucketPlacement says where each tenant's data goes.
// +kubebuilder:validation:XValidation:rule="self.mode != 'SharedBucket' || (has(self.sharedBucketName) && size(self.sharedBucketName) > 0)",message="sharedBucketName is required when mode is SharedBucket"
type BucketPlacement struct {
	// mode: BucketPerTenant gives each tenant its own bucket; SharedBucket gives each tenant the
	// prefix <namespace>/<name>/ of one bucket.
	// +kubebuilder:default=BucketPerTenant
	// +optional
	Mode BucketMode `json:"mode,omitempty"`

	// nameTemplate names per-tenant buckets; {namespace} and {name} are replaced, and the result
	// is made a valid bucket name (names over 63 characters end in a hash).
	// +kubebuilder:default="tl-{namespace}-{name}"
	// +optional
	NameTemplate string `json:"nameTemplate,omitempty"`

	// sharedBucketName is the one bucket of SharedBucket mode. The operator does not create it.
	// +optional
	SharedBucketName string `json:"sharedBucketName,omitempty"`
}

// FilesystemSettings configure the volumes of the filesystem provisioner.
type FilesystemSettings struct {
	// storageClassName of the PersistentVolumeClaims; empty uses the cluster default.
	// +optional
	StorageClassName string `json:"storageClassName,omitempty"`

	// size of each tenant's volume.
	// +kubebuilder:default="10Gi"
	// +optional
	Size string `json:"size,omitempty"`
}

// LakeStorageClassStatus is what the operator last observed of the class.
type LakeStorageClassStatus struct {
	// observedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready says whether the admin credentials (and CA) are in place in the operator's
	// namespace. Whether the store answers shows on the lakes that use the class.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// LakeStorageClass is an object store that tenants' lakes are provisioned in, like a
// StorageClass is for volumes. Mark one default with the annotation
// lake.telemetrylake.io/is-default-class: "true".
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=lsc
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Provisioner",type=string,JSONPath=`.spec.provisioner`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.bucket.mode`
// +kubebuilder:printcolumn:name="Credentials",type=string,JSONPath=`.spec.credentials.mode`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type LakeStorageClass struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   LakeStorageClassSpec   `json:"spec,omitempty"`
	Status LakeStorageClassStatus `json:"status,omitempty"`
}

// LakeStorageClassList is a list of LakeStorageClasses.
// +kubebuilder:object:root=true
type LakeStorageClassList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LakeStorageClass `json:"items"`
}

func init() {
	SchemeBuilder.Register(&LakeStorageClass{}, &LakeStorageClassList{})
}

// AssumesRole reports whether the class gives its tenants STS sessions of one role rather than IAM
// users of their own. Only the s3-iam provisioner has either.
func (s LakeStorageClassSpec) AssumesRole() bool {
	return s.Provisioner == ProvisionerS3IAM && s.Credentials != nil && s.Credentials.Mode == CredentialModeAssumeRole
}

// SessionDuration is how long the class's STS sessions are valid: spec.credentials.sessionDuration,
// or DefaultSessionDuration for an object that was not defaulted.
func (s LakeStorageClassSpec) SessionDuration() time.Duration {
	if s.Credentials != nil && s.Credentials.SessionDuration != nil && s.Credentials.SessionDuration.Duration > 0 {
		return s.Credentials.SessionDuration.Duration
	}
	return DefaultSessionDuration
}
