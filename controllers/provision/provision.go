// Package provision is the operator's side of the object store: for each tenant it creates the
// bucket (or checks the shared one), the retention lifecycle rule, and an IAM user whose one
// access key can write and read only the tenant's objects; and on deletion it takes them away.
//
// It uses the platform's admin credentials from a LakeStorageClass and only the S3 and IAM APIs
// of aws-sdk-go-v2, so the same code runs against AWS, SeaweedFS and Ceph RGW.
//
// Every method is idempotent and keyed only by names derived from the tenant, so a reconcile
// may call it any number of times, or crash halfway, and the next call finishes the job. It
// must never act on a bucket or IAM user that another tenant owns: a bucket of a tenant's own
// and its IAM user carry a tag naming the tenant, and a name that renders the same for two
// tenants fails with ErrConflict instead of being shared. It never hands out or logs the admin
// credentials.
package provision

import "context"

// Credentials are a tenant's access key, as stored in its "<name>-storage" Secret.
type Credentials struct {
	AccessKeyID, SecretAccessKey string
	// UserName is the IAM user the key belongs to.
	UserName string
}

// BucketProvisioner creates and removes a tenant's storage and credentials on an object store.
type BucketProvisioner interface {
	// EnsureStorage creates p's bucket if missing (for a shared bucket, checks that it exists)
	// and keeps one lifecycle rule on it that expires the objects under p.Prefix after
	// retentionDays days; 0 means no expiry, and removes the rule. When everything is in place
	// it only reads.
	EnsureStorage(ctx context.Context, p Placement, retentionDays int32) error
	// EnsureCredentials makes sure IAM user UserName(t) exists with one inline policy that
	// allows only s3:PutObject and s3:GetObject under p and s3:ListBucket of p's prefix, and
	// returns its access key. existing is the key the caller stored earlier, if any: it is
	// returned unchanged while IAM still has it. Otherwise a new key is made. Either way the
	// user's other keys, which no caller can know, are deleted.
	EnsureCredentials(ctx context.Context, t Tenant, p Placement, existing *Credentials) (Credentials, error)
	// EnsureReadOnlyCredentials is EnsureCredentials for IAM user ReadOnlyUserName(t), whose one
	// inline policy allows only s3:GetObject under p and s3:ListBucket of p's prefix: the key of
	// the tenant's query server (spec.query), which never writes.
	EnsureReadOnlyCredentials(ctx context.Context, t Tenant, p Placement, existing *Credentials) (Credentials, error)
	// RevokeReadOnlyCredentials deletes ReadOnlyUserName(t)'s access keys, its inline policies
	// and the user, and leaves UserName(t) alone: spec.query was turned off.
	RevokeReadOnlyCredentials(ctx context.Context, t Tenant) error
	// RevokeCredentials deletes the access keys, the inline policies and the users UserName(t)
	// and ReadOnlyUserName(t). A user that is gone, or that belongs to another tenant, is left as
	// it is.
	RevokeCredentials(ctx context.Context, t Tenant) error
	// DeleteData deletes every object under p and, when deleteBucket is set (only allowed for a
	// bucket of the tenant's own), the bucket itself. For a shared bucket it also removes the
	// tenant's lifecycle rule. Data already gone is no error.
	DeleteData(ctx context.Context, p Placement, deleteBucket bool) error
}
