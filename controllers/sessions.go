package controllers

import (
	"context"
	"time"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/controllers/builders"
	"github.com/telemetrylake/telemetrylake/controllers/provision"
)

// Credentials mode AssumeRole (LakeStorageClass spec.credentials): the tenant's storage Secret,
// and its query server's, hold STS sessions of the class's role instead of IAM users' keys. What
// differs from IAM users is here; provisionStorage calls it where it would make the keys.

// issueSessions puts new sessions into facts: the tenant's, narrowed to its grants, and with
// spec.query the query server's, narrowed to reading. When the storage Secret still holds an IAM
// user's key (the class assumed no role before), that user and its read-only twin are revoked
// once the sessions are in hand, and replacedKey says so: nothing else would ever delete them.
func issueSessions(ctx context.Context, prov provision.BucketProvisioner, class *lakev1.LakeStorageClass, tenant provision.Tenant, placement provision.Placement,
	facts *storageFacts, rec provisionedRecord, hadSecret bool) (replacedKey bool, err error) {
	role := provision.Role{ARN: class.Spec.Credentials.RoleARN, SessionDuration: class.Spec.SessionDuration()}
	creds, err := prov.AssumeTenantRole(ctx, tenant, placement, role)
	if err != nil {
		return false, err
	}
	useSession(facts.credentials, creds)
	if facts.queryCredentials != nil {
		if creds, err = prov.AssumeReadOnlyTenantRole(ctx, tenant, placement, role); err != nil {
			return false, err
		}
		useSession(facts.queryCredentials, creds)
	}
	if hadSecret && rec.credentials.SessionToken == "" && rec.credentials.AccessKeyID != "" {
		if err := prov.RevokeCredentials(ctx, tenant); err != nil {
			return false, err
		}
		return true, nil
	}
	return false, nil
}

func useSession(dst *builders.StorageCredentials, c provision.Credentials) {
	dst.AccessKeyID, dst.SecretAccessKey, dst.SessionToken, dst.Expires = c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Expires
}

// sessionsRefreshAt is when the lake's sessions are to be replaced: the earlier refresh time of the
// tenant's and, with spec.query, the query server's.
func (r *TelemetryLakeReconciler) sessionsRefreshAt(lake *lakev1.TelemetryLake, class *lakev1.LakeStorageClass, facts storageFacts) time.Time {
	refreshAt := func(expires time.Time) time.Time {
		if r.SessionRefreshAhead > 0 {
			return expires.Add(-r.SessionRefreshAhead)
		}
		return provision.RefreshAt(expires, class.Spec.SessionDuration(), string(lake.UID))
	}
	at := refreshAt(facts.credentials.Expires)
	if q := facts.queryCredentials; q != nil {
		at = earliest(at, refreshAt(q.Expires))
	}
	return at
}

// minSessionRefresh is the least time a new session is kept before it is replaced, whatever
// RefreshAt says: if the operator's clock runs ahead of the store's by more than the refresh
// window, every session would look due as soon as it is issued, and the lake would call STS in a
// loop rather than once per lifetime.
const minSessionRefresh = 5 * time.Second
