package controllers

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers/provision"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/s3client"
)

// A reconcile that changes nothing calls no store. Before this record, every reconcile made 5 IAM
// and 3 S3 calls, no-ops included: a manager restart with 100 provisioned lakes made 810 store
// calls, and every CronJob tick 1,620 (issue 13). What a lake's store calls depend on is hashed
// into an annotation of its storage Secret when they succeed; a reconcile that finds the same hash,
// computed from the informer cache alone, reuses the Secret's credentials and calls nothing.
//
// What the hash covers, and so what re-provisions: the provisioner, the bucket and prefix, the
// retention, the class (its UID and generation: any change of its spec), the versions of the
// class's admin and CA Secrets (rotated admin credentials), the tenant's credentials themselves
// (a storage Secret deleted or edited by hand gets a fresh key), and provisioningVersion. The query
// server's read-only key (spec.query) has a record of its own on its own Secret, of the same
// inputs, its own key and its grants; a lake with spec.query calls no store only when both match.
//
// In credentials mode AssumeRole the record also holds the session's expiry (its credentials.json),
// and the store is called again when the session is due for refresh (provision.RefreshAt, two
// thirds into its lifetime): a lake at rest then makes one AssumeRole per session duration (two
// with spec.query) and nothing else, since a refresh before the periodic check is due skips the
// bucket calls and keeps the record's time.
//
// What it cannot see is a change made in the store behind the operator's back (a deleted key or
// bucket): the periodic check repairs that, every StoreCheckInterval with jitter.

// provisioningVersion changes when the operator starts making something different in the store
// that the hash does not already cover (the IAM policy's grants it does: another lifecycle rule,
// say): every lake is then provisioned again once.
const provisioningVersion = "1"

// DefaultStoreCheckInterval is how often the store calls run anyway. It costs each lake one round
// of store calls and one write of its storage Secret's annotation per interval: at 1,000 lakes,
// 12 h makes ~0.2 store calls a second on average.
const DefaultStoreCheckInterval = 12 * time.Hour

// storeCheckJitter spreads the checks of lakes provisioned together over another fifth of the
// interval, so that a thousand lakes onboarded in a minute are not checked again in one minute.
const storeCheckJitter = 0.2

// storageInputs are what a lake's store calls depend on, as the cache shows them.
type storageInputs struct {
	class     *lakev1.LakeStorageClass
	placement provision.Placement
	retention int32
	// adminVersions are the resourceVersions of the class's admin Secret and CA Secret.
	adminVersions string
}

// hash is the record of a provisioning with these inputs that produced creds.
func (in storageInputs) hash(accessKeyID, secretAccessKey string) string {
	// The grants are what the tenant's IAM policy allows (lake/layout): an operator that grants
	// more, as when compaction began deleting segments, re-provisions every lake once, with no
	// version to remember to bump.
	grants := layout.PolicyResources(in.placement.Prefix)
	return in.hashOf(accessKeyID, secretAccessKey, grants.Objects, strings.Join(grants.Deletable, " "))
}

// readOnlyHash is the record of a provisioning with these inputs that produced the query server's
// read-only key: the same inputs, that key, and the read-only grants, so that it is provisioned
// again whenever the read-write key would be, and whenever what it may read changes.
func (in storageInputs) readOnlyHash(accessKeyID, secretAccessKey string) string {
	return in.hashOf(accessKeyID, secretAccessKey, "read-only", layout.ReadOnlyResources(in.placement.Prefix))
}

func (in storageInputs) hashOf(accessKeyID, secretAccessKey string, grants ...string) string {
	h := sha256.New()
	for _, s := range append([]string{
		provisioningVersion, string(in.class.Spec.Provisioner), string(in.class.UID),
		in.placement.Bucket, in.placement.Prefix, in.adminVersions, accessKeyID, secretAccessKey,
	}, grants...) {
		field(h, []byte(s))
	}
	field(h, binary.BigEndian.AppendUint64(nil, uint64(in.class.Generation)))
	field(h, binary.BigEndian.AppendUint32(nil, uint32(in.retention)))
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func field(h interface{ Write([]byte) (int, error) }, b []byte) {
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(b))))
	h.Write(b)
}

// provisionedRecord is what a storage Secret says was provisioned, and when.
type provisionedRecord struct {
	hash string
	at   time.Time
	// credentials are the Secret's.
	credentials provision.Credentials
}

// recordOf reads the record of a storage Secret; ok is false when it has none (a Secret of an
// older operator, or none at all).
func recordOf(secret *corev1.Secret) (rec provisionedRecord, ok bool) {
	if secret == nil {
		return rec, false
	}
	at, err := time.Parse(time.RFC3339, secret.Annotations[wellknown.AnnotationStorageProvisionedAt])
	rec = provisionedRecord{
		hash: secret.Annotations[wellknown.AnnotationStorageProvisioned],
		at:   at,
		credentials: provision.Credentials{
			AccessKeyID:     string(secret.Data[wellknown.SecretKeyAccessKeyID]),
			SecretAccessKey: string(secret.Data[wellknown.SecretKeySecretAccessKey]),
			SessionToken:    string(secret.Data[wellknown.SecretKeySessionToken]),
		},
	}
	if rec.credentials.SessionToken != "" {
		// An STS session's expiry is in the file its pods read; a session whose expiry cannot be
		// read is no record, and is replaced.
		f, ferr := s3client.ParseCredentialsFile(secret.Data[wellknown.SecretKeyCredentialsFile])
		if ferr != nil || f.Expiration == nil || f.SessionToken != rec.credentials.SessionToken {
			return rec, false
		}
		rec.credentials.Expires = *f.Expiration
	}
	return rec, err == nil && rec.hash != ""
}

// matches says whether the record is of a provisioning with these inputs.
func (rec provisionedRecord) matches(in storageInputs) bool {
	return rec.hash == in.hash(rec.credentials.AccessKeyID, rec.credentials.SecretAccessKey)
}

// matchesReadOnly says whether the record, of the query server's storage Secret, is of a
// provisioning of its read-only key with these inputs.
func (rec provisionedRecord) matchesReadOnly(in storageInputs) bool {
	return rec.hash == in.readOnlyHash(rec.credentials.AccessKeyID, rec.credentials.SecretAccessKey)
}

// checkDue is when the store calls of a lake provisioned at are due again: the interval, plus a
// jitter fixed by the lake's UID, so that a restart does not move it.
func checkDue(lake *lakev1.TelemetryLake, at time.Time, interval time.Duration) time.Time {
	sum := sha256.Sum256([]byte(lake.UID))
	frac := float64(binary.BigEndian.Uint64(sum[:8])) / (1 << 64)
	return at.Add(interval + time.Duration(frac*storeCheckJitter*float64(interval)))
}
