package controllers

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers/builders"
	"github.com/telemetrylake/telemetrylake/controllers/provision"
)

// storageFacts is what provisioning found or made for a lake: where its data goes and how its
// ingester reaches it.
type storageFacts struct {
	class     *lakev1.LakeStorageClass
	placement provision.Placement
	// credentials are the tenant's scoped keys (s3-iam), or a copy of the class's (s3-static),
	// with the store's CA; nil for the filesystem provisioner.
	credentials *builders.StorageCredentials
	// queryCredentials are the query server's read-only key (s3-iam), or the class's copy
	// (s3-static, which has no IAM to make a narrower one), with the store's CA; nil unless
	// spec.query is enabled.
	queryCredentials *builders.StorageCredentials
	// url is the ingester's --storage URL.
	url string
	// recheckAt is when the store calls are due again (the periodic check); zero for none.
	recheckAt time.Time
	// retryAfter, when the class's store gate was closed, is when to try again.
	retryAfter time.Duration
}

// resolveStorageClass finds the lake's class: the named one, or the one annotated default.
func (r *TelemetryLakeReconciler) resolveStorageClass(ctx context.Context, lake *lakev1.TelemetryLake) (*lakev1.LakeStorageClass, step) {
	if name := lake.Spec.StorageClassName; name != "" {
		class := &lakev1.LakeStorageClass{}
		err := r.Client.Get(ctx, client.ObjectKey{Name: name}, class)
		if apierrors.IsNotFound(err) {
			return nil, stepFailed(lakev1.ReasonStorageClassNotFound, "LakeStorageClass %s not found: create it or fix spec.storageClassName", name)
		}
		if err != nil {
			return nil, stepFailed(lakev1.ReasonProvisioningFailed, "reading LakeStorageClass %s: %v", name, err)
		}
		return class, stepDone()
	}
	var classes lakev1.LakeStorageClassList
	if err := r.Client.List(ctx, &classes); err != nil {
		return nil, stepFailed(lakev1.ReasonProvisioningFailed, "listing LakeStorageClasses: %v", err)
	}
	var defaults []*lakev1.LakeStorageClass
	for i := range classes.Items {
		if classes.Items[i].Annotations[wellknown.AnnotationDefaultClass] == "true" {
			defaults = append(defaults, &classes.Items[i])
		}
	}
	switch len(defaults) {
	case 0:
		return nil, stepFailed(lakev1.ReasonStorageClassNotFound, "spec.storageClassName is empty and no LakeStorageClass is annotated %s: \"true\": name a class or mark one default", wellknown.AnnotationDefaultClass)
	case 1:
		return defaults[0], stepDone()
	}
	return nil, stepFailed(lakev1.ReasonInvalidSpec, "%d LakeStorageClasses are marked default: set spec.storageClassName, or leave one default", len(defaults))
}

// adminEndpoint reads the class's admin credentials and CA from the operator's namespace, and
// the versions of the Secrets they came from.
func (r *TelemetryLakeReconciler) adminEndpoint(ctx context.Context, class *lakev1.LakeStorageClass) (provision.Endpoint, string, step) {
	return readAdminEndpoint(ctx, r.Client, r.OperatorNamespace, class)
}

func readAdminEndpoint(ctx context.Context, c client.Reader, namespace string, class *lakev1.LakeStorageClass) (ep provision.Endpoint, versions string, st step) {
	s3 := class.Spec.S3
	ep = provision.Endpoint{URL: s3.Endpoint, Region: s3.Region, PathStyle: s3.PathStyle}
	ref := s3.AdminCredentialsSecretRef.Name
	var secret corev1.Secret
	err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref}, &secret)
	if apierrors.IsNotFound(err) {
		return ep, "", stepFailed(lakev1.ReasonAdminCredentialsNotFound, "Secret %s not found in namespace %s: create it with %s and %s, or fix spec.s3.adminCredentialsSecretRef of LakeStorageClass %s",
			ref, namespace, wellknown.SecretKeyAccessKeyID, wellknown.SecretKeySecretAccessKey, class.Name)
	}
	if err != nil {
		return ep, "", stepFailed(lakev1.ReasonProvisioningFailed, "reading Secret %s/%s: %v", namespace, ref, err)
	}
	ep.AccessKeyID = string(secret.Data[wellknown.SecretKeyAccessKeyID])
	ep.SecretAccessKey = string(secret.Data[wellknown.SecretKeySecretAccessKey])
	if ep.AccessKeyID == "" || ep.SecretAccessKey == "" {
		return ep, "", stepFailed(lakev1.ReasonAdminCredentialsNotFound, "Secret %s/%s lacks %s or %s", namespace, ref, wellknown.SecretKeyAccessKeyID, wellknown.SecretKeySecretAccessKey)
	}
	versions = secret.ResourceVersion
	if ca := s3.CASecretRef; ca != nil {
		var caSecret corev1.Secret
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ca.Name}, &caSecret); err != nil {
			return ep, "", stepFailed(lakev1.ReasonAdminCredentialsNotFound, "CA Secret %s/%s of LakeStorageClass %s: %v", namespace, ca.Name, class.Name, err)
		}
		ep.CABundle = caSecret.Data[wellknown.SecretKeyCA]
		versions += "/" + caSecret.ResourceVersion
	}
	return ep, versions, stepDone()
}

// provisionStorage makes the lake's bucket or prefix and its scoped credentials. Every call is
// idempotent and keyed by names derived from the lake, so a crash halfway is repaired by the next
// reconcile. When the storage Secret records a provisioning of the same inputs (provisioned.go)
// and no check is due, it calls no store at all; otherwise the calls go through the class's gate
// (storegate.go), and a closed gate says, in facts.retryAfter, when to come back.
//
// With spec.query, it also makes the query server's read-only key, kept in existingQuery; once
// spec.query is turned off, it revokes that key.
func (r *TelemetryLakeReconciler) provisionStorage(ctx context.Context, lake *lakev1.TelemetryLake, class *lakev1.LakeStorageClass, existing, existingQuery *corev1.Secret) (storageFacts, step, step) {
	facts := storageFacts{class: class}
	if class.Spec.Provisioner == lakev1.ProvisionerFilesystem {
		facts.url = "file://" + wellknown.DataMountPath
		return facts, stepDone(), stepDone()
	}
	tenant := provision.Tenant{Namespace: lake.Namespace, Name: lake.Name}
	placement, err := provision.PlacementFor(string(class.Spec.Bucket.Mode), class.Spec.Bucket.NameTemplate, class.Spec.Bucket.SharedBucketName, tenant)
	if err != nil {
		return facts, stepFailed(lakev1.ReasonInvalidSpec, "placing %s/%s in LakeStorageClass %s: %v", lake.Namespace, lake.Name, class.Name, err), stepWaiting()
	}
	facts.placement = placement
	facts.url = builders.S3StorageURL(placement.Bucket, placement.Prefix, class.Spec.S3)

	ep, adminVersions, st := r.adminEndpoint(ctx, class)
	if !st.done() {
		return facts, st, stepWaiting()
	}
	inputs := storageInputs{class: class, placement: placement, retention: retentionDays(lake, class), adminVersions: adminVersions}
	facts.credentials = &builders.StorageCredentials{AccessKeyID: ep.AccessKeyID, SecretAccessKey: ep.SecretAccessKey, CA: ep.CABundle}
	rec, recorded := recordOf(existing)
	recorded = recorded && rec.matches(inputs)
	wantQuery := lake.Spec.Query.Enabled
	queryRec, queryRecorded := recordOf(existingQuery)
	if wantQuery {
		facts.queryCredentials = &builders.StorageCredentials{AccessKeyID: ep.AccessKeyID, SecretAccessKey: ep.SecretAccessKey, CA: ep.CABundle}
		if queryRecorded = queryRecorded && queryRec.matchesReadOnly(inputs); queryRecorded {
			useRecord(facts.queryCredentials, queryRec)
		}
		recorded = recorded && queryRecorded
	}
	// spec.query was turned off and its key's Secret is still there: the key is revoked before the
	// Secret goes (Build removes it), so a failed revoke leaves the Secret to be retried from.
	// STS sessions have no user to revoke: the query server's Secret just goes.
	sessions := class.Spec.AssumesRole()
	revokeQuery := !wantQuery && existingQuery != nil && class.Spec.Provisioner == lakev1.ProvisionerS3IAM && !sessions
	recorded = recorded && !revokeQuery
	// refreshOnly: the record holds, the periodic check is not due, only the sessions are.
	refreshOnly := false
	if recorded {
		useRecord(facts.credentials, rec)
		checkAt := checkDue(lake, rec.at, r.storeCheckInterval())
		facts.recheckAt = checkAt
		if sessions {
			facts.recheckAt = earliest(checkAt, r.sessionsRefreshAt(lake, class, facts))
		}
		if r.Now().Before(facts.recheckAt) {
			return facts, stepDone(), stepDone()
		}
		refreshOnly = sessions && r.Now().Before(checkAt)
	}

	release, retryAfter, err := r.gates.enter(class.Name, client.ObjectKeyFromObject(lake))
	if err != nil {
		if recorded {
			// Only the periodic check was due: it waits for the gate, the lake keeps what it has.
			facts.recheckAt = r.Now().Add(retryAfter)
			return facts, stepDone(), stepDone()
		}
		facts.retryAfter = retryAfter
		if errors.Is(err, errStoreOpen) {
			return facts, stepFailed(lakev1.ReasonStoreUnreachable, "the object store of LakeStorageClass %s: %v", class.Name, err), stepWaiting()
		}
		return facts, stepWaiting(), stepWaiting()
	}
	var result error
	defer func() { release(result) }()

	prov, result := r.provisioner(ctx, ep)
	if result != nil {
		return facts, provisionFailure("connecting to the object store", result), stepWaiting()
	}
	if !refreshOnly {
		if result = prov.EnsureStorage(ctx, placement, inputs.retention); result != nil {
			return facts, provisionFailure("creating bucket "+placement.Bucket, result), stepWaiting()
		}
	}
	if sessions {
		var replacedKey bool
		if replacedKey, result = issueSessions(ctx, prov, class, tenant, placement, &facts, rec, existing != nil); result != nil {
			doing := "assuming role " + class.Spec.Credentials.RoleARN + " for the tenant's STS session"
			if refreshOnly {
				doing += fmt.Sprintf(" (the current session works until %s)", rec.credentials.Expires.UTC().Format(time.RFC3339))
			}
			return facts, stepDone(), provisionFailure(doing, result)
		}
		if replacedKey {
			r.Events.Eventf(lake, nil, corev1.EventTypeNormal, "CredentialsRevoked", "Provision", "LakeStorageClass %s assumes a role now: revoked the tenant's IAM users and keys", class.Name)
		}
	} else if class.Spec.Provisioner == lakev1.ProvisionerS3IAM {
		var creds provision.Credentials
		var keep *provision.Credentials
		if existing != nil {
			keep = &rec.credentials
		}
		if creds, result = prov.EnsureCredentials(ctx, tenant, placement, keep); result != nil {
			return facts, stepDone(), provisionFailure("issuing the tenant's IAM credentials", result)
		}
		facts.credentials.AccessKeyID, facts.credentials.SecretAccessKey = creds.AccessKeyID, creds.SecretAccessKey
		if wantQuery {
			var keepQuery *provision.Credentials
			if existingQuery != nil {
				keepQuery = &queryRec.credentials
			}
			if creds, result = prov.EnsureReadOnlyCredentials(ctx, tenant, placement, keepQuery); result != nil {
				return facts, stepDone(), provisionFailure("issuing the query server's read-only IAM credentials", result)
			}
			facts.queryCredentials.AccessKeyID, facts.queryCredentials.SecretAccessKey = creds.AccessKeyID, creds.SecretAccessKey
		}
		if revokeQuery {
			if result = prov.RevokeReadOnlyCredentials(ctx, tenant); result != nil {
				return facts, stepDone(), provisionFailure("revoking the query server's read-only IAM credentials", result)
			}
		}
	}
	now := r.Now()
	if refreshOnly {
		// Only the sessions were replaced: the bucket calls stay due when they were.
		now = rec.at
	}
	facts.credentials.ProvisionedHash = inputs.hash(facts.credentials.AccessKeyID, facts.credentials.SecretAccessKey)
	facts.credentials.ProvisionedAt = now
	if wantQuery {
		facts.queryCredentials.ProvisionedHash = inputs.readOnlyHash(facts.queryCredentials.AccessKeyID, facts.queryCredentials.SecretAccessKey)
		facts.queryCredentials.ProvisionedAt = now
	}
	facts.recheckAt = checkDue(lake, now, r.storeCheckInterval())
	if sessions {
		refreshAt := r.sessionsRefreshAt(lake, class, facts)
		if soonest := r.Now().Add(minSessionRefresh); refreshAt.Before(soonest) {
			refreshAt = soonest
		}
		facts.recheckAt = earliest(facts.recheckAt, refreshAt)
	}
	storeProvisionings.WithLabelValues(class.Name).Inc()
	return facts, stepDone(), stepDone()
}

// useRecord fills creds from a provisioning record, for a reconcile that calls no store.
func useRecord(creds *builders.StorageCredentials, rec provisionedRecord) {
	creds.AccessKeyID, creds.SecretAccessKey = rec.credentials.AccessKeyID, rec.credentials.SecretAccessKey
	creds.SessionToken, creds.Expires = rec.credentials.SessionToken, rec.credentials.Expires
	creds.ProvisionedHash, creds.ProvisionedAt = rec.hash, rec.at
}

// provisionFailure turns a provisioner error into a condition whose reason says who must act.
func provisionFailure(doing string, err error) step {
	switch {
	case errors.Is(err, provision.ErrUnreachable):
		return stepFailed(lakev1.ReasonStoreUnreachable, "%s: %v (retrying with backoff)", doing, err)
	case errors.Is(err, provision.ErrDenied):
		return stepFailed(lakev1.ReasonStoreDenied, "%s: %v", doing, err)
	case errors.Is(err, provision.ErrInvalid):
		return stepFailed(lakev1.ReasonInvalidSpec, "%s: %v", doing, err)
	case errors.Is(err, provision.ErrConflict):
		return stepFailed(lakev1.ReasonStorageConflict, "%s: %v", doing, err)
	case errors.Is(err, provision.ErrUnsupported):
		return stepFailed(lakev1.ReasonUnsupported, "%s: %v", doing, err)
	}
	return stepFailed(lakev1.ReasonProvisioningFailed, "%s: %v", doing, err)
}

func retentionDays(lake *lakev1.TelemetryLake, class *lakev1.LakeStorageClass) int32 {
	if lake.Spec.RetentionDays != nil {
		return *lake.Spec.RetentionDays
	}
	if class.Spec.RetentionDays != nil {
		return *class.Spec.RetentionDays
	}
	return 0
}

// oidcCAs reads the CA bundles that spec.auth.oidc names, from the lake's namespace. Tenants'
// own Secrets are not cached, so this reads through the API server. A missing Secret is the
// tenant's to create (the watch on tenants' Secrets brings the lake back then); any other read
// error is returned, to be retried.
func (r *TelemetryLakeReconciler) oidcCAs(ctx context.Context, lake *lakev1.TelemetryLake) (map[string][]byte, step, error) {
	cas := map[string][]byte{}
	for _, issuer := range lake.Spec.Auth.OIDC {
		ref := issuer.CASecretRef
		if ref == nil || cas[ref.Name] != nil {
			continue
		}
		var s corev1.Secret
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: lake.Namespace, Name: ref.Name}, &s)
		if apierrors.IsNotFound(err) {
			return nil, stepFailed(lakev1.ReasonOIDCCASecretNotFound, "Secret %s not found in namespace %s, the CA of OIDC issuer %s: create it with key %s or fix spec.auth.oidc[].caSecretRef",
				ref.Name, lake.Namespace, issuer.IssuerURL, wellknown.SecretKeyCA), nil
		}
		if err != nil {
			return nil, stepWaiting(), fmt.Errorf("reading Secret %s/%s, the CA of OIDC issuer %s: %w", lake.Namespace, ref.Name, issuer.IssuerURL, err)
		}
		cas[ref.Name] = s.Data[wellknown.SecretKeyCA]
	}
	return cas, stepDone(), nil
}

// provisioner reuses one client per object store and admin identity: each holds a connection
// pool, and the shared-bucket lifecycle edits are serialized inside it.
func (r *TelemetryLakeReconciler) provisioner(ctx context.Context, ep provision.Endpoint) (provision.BucketProvisioner, error) {
	key := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%t\x00%s\x00%s\x00%x", ep.URL, ep.Region, ep.PathStyle, ep.AccessKeyID, ep.SecretAccessKey, ep.CABundle))
	r.provisionersMu.Lock()
	defer r.provisionersMu.Unlock()
	if p, ok := r.provisioners[key]; ok {
		return p, nil
	}
	p, err := r.NewProvisioner(ctx, ep)
	if err != nil {
		return nil, err
	}
	if r.provisioners == nil {
		r.provisioners = map[[32]byte]provision.BucketProvisioner{}
	}
	r.provisioners[key] = p
	return p, nil
}
