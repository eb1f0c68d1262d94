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

import (
	"context"
	"time"
)

// Credentials are a tenant's access key, as stored in its "<name>-storage" Secret.
type Credentials struct {
	AccessKeyID, SecretAccessKey string
	// UserName is the IAM user the key belongs to; empty for an STS session.
	UserName string
	// SessionToken and Expires are an STS session's (AssumeRole); empty for an IAM user's key,
	// which does not expire.
	SessionToken string
	Expires      time.Time
}

// Role is what a class's tenants assume instead of having IAM users of their own: one role for
// all of them, each session narrowed to one tenant by a session policy.
type Role struct {
	// ARN of the role; the admin credentials must be allowed to assume it.
	ARN string
	// SessionDuration is how long each session is valid (STS allows 15 minutes to 12 hours).
	SessionDuration time.Duration
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
	// AssumeTenantRole asks STS for a session of role whose session policy allows only what
	// UserName(t)'s inline policy would (policyFor: the same grants), and returns its temporary
	// credentials. It writes nothing into the store's IAM: no user, no key, no policy. The session
	// is named after UserName(t), so the store's and AWS's logs say whose it is.
	AssumeTenantRole(ctx context.Context, t Tenant, p Placement, role Role) (Credentials, error)
	// AssumeReadOnlyTenantRole is AssumeTenantRole narrowed to what ReadOnlyUserName(t) would be
	// allowed (readOnlyPolicyFor): the query server's session, which can only read.
	AssumeReadOnlyTenantRole(ctx context.Context, t Tenant, p Placement, role Role) (Credentials, error)
	// DeleteData deletes every object under p and, when deleteBucket is set (only allowed for a
	// bucket of the tenant's own), the bucket itself. For a shared bucket it also removes the
	// tenant's lifecycle rule. Data already gone is no error.
	DeleteData(ctx context.Context, p Placement, deleteBucket bool) error
}
