package controllers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers/builders"
	"github.com/telemetrylake/telemetrylake/controllers/provision"
)

// TestProvisionedRecord checks that every input of the store calls changes the record, and that
// a Secret without one, or with a broken one, asks for provisioning.
func TestProvisionedRecord(t *testing.T) {
	class := &lakev1.LakeStorageClass{ObjectMeta: metav1.ObjectMeta{Name: "c", UID: "uid-1", Generation: 3},
		Spec: lakev1.LakeStorageClassSpec{Provisioner: lakev1.ProvisionerS3IAM}}
	in := storageInputs{class: class, placement: provision.Placement{Bucket: "tl-a-a"}, retention: 30, adminVersions: "17"}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
			wellknown.AnnotationStorageProvisioned:   in.hash("AK", "SK"),
			wellknown.AnnotationStorageProvisionedAt: "2026-12-01T00:00:00Z",
		}},
		Data: map[string][]byte{wellknown.SecretKeyAccessKeyID: []byte("AK"), wellknown.SecretKeySecretAccessKey: []byte("SK")},
	}
	rec, ok := recordOf(secret)
	if !ok || !rec.matches(in) {
		t.Fatalf("a record of these inputs does not match them: %+v, %v", rec, ok)
	}
	otherClass := *class
	otherClass.Generation = 4
	for name, changed := range map[string]storageInputs{
		"the class's generation": {class: &otherClass, placement: in.placement, retention: in.retention, adminVersions: in.adminVersions},
		"the bucket":             {class: class, placement: provision.Placement{Bucket: "tl-b-b"}, retention: in.retention, adminVersions: in.adminVersions},
		"the prefix":             {class: class, placement: provision.Placement{Bucket: "tl-a-a", Prefix: "a/"}, retention: in.retention, adminVersions: in.adminVersions},
		"the retention":          {class: class, placement: in.placement, retention: 7, adminVersions: in.adminVersions},
		"the admin Secrets":      {class: class, placement: in.placement, retention: in.retention, adminVersions: "18"},
	} {
		if rec.matches(changed) {
			t.Errorf("a change of %s leaves the record matching", name)
		}
	}
	edited := secret.DeepCopy()
	edited.Data[wellknown.SecretKeySecretAccessKey] = []byte("edited by hand")
	if rec, _ := recordOf(edited); rec.matches(in) {
		t.Error("a storage Secret edited by hand still matches its record")
	}
	for name, s := range map[string]*corev1.Secret{"no Secret": nil, "no record": {Data: secret.Data}} {
		if _, ok := recordOf(s); ok {
			t.Errorf("%s: a record was read", name)
		}
	}
	bad := secret.DeepCopy()
	bad.Annotations[wellknown.AnnotationStorageProvisionedAt] = "yesterday"
	if _, ok := recordOf(bad); ok {
		t.Error("a record with an unreadable time was read")
	}
}

// TestReadOnlyRecord checks that the query server's Secret has a record of its own: the read-write
// key's record does not pass for it (or a Secret copied from the other would be taken as
// provisioned), and every input of the store calls changes it too.
func TestReadOnlyRecord(t *testing.T) {
	class := &lakev1.LakeStorageClass{ObjectMeta: metav1.ObjectMeta{Name: "c", UID: "uid-1", Generation: 3},
		Spec: lakev1.LakeStorageClassSpec{Provisioner: lakev1.ProvisionerS3IAM}}
	in := storageInputs{class: class, placement: provision.Placement{Bucket: "tl-a-a"}, retention: 30, adminVersions: "17"}
	secret := func(hash string) *corev1.Secret {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
				wellknown.AnnotationStorageProvisioned:   hash,
				wellknown.AnnotationStorageProvisionedAt: "2026-12-01T00:00:00Z",
			}},
			Data: map[string][]byte{wellknown.SecretKeyAccessKeyID: []byte("AK"), wellknown.SecretKeySecretAccessKey: []byte("SK")},
		}
	}
	rec, ok := recordOf(secret(in.readOnlyHash("AK", "SK")))
	if !ok || !rec.matchesReadOnly(in) {
		t.Fatalf("a read-only record of these inputs does not match them: %+v, %v", rec, ok)
	}
	if rec.matches(in) {
		t.Error("a read-only record passes for the read-write key's")
	}
	if rw, _ := recordOf(secret(in.hash("AK", "SK"))); rw.matchesReadOnly(in) {
		t.Error("the read-write key's record passes for the read-only key's")
	}
	for name, changed := range map[string]storageInputs{
		"the prefix":        {class: class, placement: provision.Placement{Bucket: "tl-a-a", Prefix: "a/"}, retention: in.retention, adminVersions: in.adminVersions},
		"the admin Secrets": {class: class, placement: in.placement, retention: in.retention, adminVersions: "18"},
	} {
		if rec.matchesReadOnly(changed) {
			t.Errorf("a change of %s leaves the read-only record matching", name)
		}
	}
}

// TestCheckDue checks that the periodic check falls within [interval, interval*(1+jitter)), stays
// put for one lake, and spreads lakes provisioned at the same moment.
func TestCheckDue(t *testing.T) {
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	interval := 12 * time.Hour
	seen := map[time.Time]bool{}
	for i := range 100 {
		lake := &lakev1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{UID: types.UID(string(rune('a'+i%26)) + string(rune('a'+i/26)))}}
		due := checkDue(lake, at, interval)
		if due.Before(at.Add(interval)) || !due.Before(at.Add(interval+time.Duration(storeCheckJitter*float64(interval)))) {
			t.Fatalf("due %s after provisioning, outside [%s, %s)", due.Sub(at), interval, time.Duration((1+storeCheckJitter)*float64(interval)))
		}
		if again := checkDue(lake, at, interval); !again.Equal(due) {
			t.Fatalf("the same lake is due at %s, then at %s", due, again)
		}
		seen[due.Truncate(time.Minute)] = true
	}
	if len(seen) < 50 {
		t.Errorf("100 lakes provisioned together are due in only %d distinct minutes", len(seen))
	}
}

// A storage Secret of an STS session (credentials mode AssumeRole), as the builder writes it, is a
// record whose expiry is its credentials.json's; one whose file is missing or of another session
// is no record, and is provisioned again rather than refreshed at a wrong time.
func TestProvisionedRecordOfASession(t *testing.T) {
	lake := &lakev1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "a", UID: "lake-uid"}}
	expires := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	secret := builders.StorageSecret(lake, builders.StorageCredentials{AccessKeyID: "ASIA", SecretAccessKey: "SK", SessionToken: "TOKEN",
		Expires: expires, ProvisionedHash: "h", ProvisionedAt: time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)})
	rec, ok := recordOf(secret)
	if !ok || rec.credentials.SessionToken != "TOKEN" || !rec.credentials.Expires.Equal(expires) {
		t.Fatalf("the record of a session Secret: %+v, %v; want its token and expiry %s", rec.credentials, ok, expires)
	}
	for name, change := range map[string]func(*corev1.Secret){
		"no credentials.json":                   func(s *corev1.Secret) { delete(s.Data, wellknown.SecretKeyCredentialsFile) },
		"a credentials.json of another session": func(s *corev1.Secret) { s.Data[wellknown.SecretKeySessionToken] = []byte("OTHER") },
		"a broken credentials.json":             func(s *corev1.Secret) { s.Data[wellknown.SecretKeyCredentialsFile] = []byte("{") },
	} {
		broken := secret.DeepCopy()
		change(broken)
		if _, ok := recordOf(broken); ok {
			t.Errorf("%s: a record was read", name)
		}
	}
}
