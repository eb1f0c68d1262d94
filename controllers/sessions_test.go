package controllers

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers/provision"
	"github.com/telemetrylake/telemetrylake/lake/s3client"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// Credentials mode AssumeRole end to end on a real API server and SeaweedFS: lakes become Ready on
// STS sessions that write their own bucket and are refused another's, the store gets no IAM user,
// the sessions are replaced before they expire with nothing else called, and a lake at rest or
// across a restart calls no store.
func TestAssumeRoleCredentials(t *testing.T) {
	c := newCluster(t)
	c.mgr = c.startManager(t, managerConfig{})
	ctx := context.Background()
	c.adminSecret(t, "lake-admin")
	role := c.s3.CreateTenantRole(t, "telemetrylake-tenants")
	c.sessionClass(t, "sts", role, 15*time.Minute)
	users := c.s3.IAMUserCount(t)

	// sts-0 has a query server, with a read-only session of its own.
	for i := range 2 {
		ns := fmt.Sprintf("sts-%d", i)
		c.createNamespace(t, ns)
		lake := &lakev1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{Name: "lake", Namespace: ns},
			Spec: lakev1.TelemetryLakeSpec{StorageClassName: "sts", Auth: lakev1.AuthSpec{Tokens: []lakev1.TokenSpec{{Name: "app"}}}}}
		lake.Spec.Query.Enabled = i == 0
		if err := c.client.Create(ctx, lake); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		ns := fmt.Sprintf("sts-%d", i)
		c.waitCondition(t, ns, "lake", lakev1.ConditionCredentialsReady, metav1.ConditionTrue)
		c.rollOut(t, ns, "lake-ingester")
		if i == 0 {
			c.waitCondition(t, ns, "lake", lakev1.ConditionIngesterAvailable, metav1.ConditionTrue)
			c.rollOut(t, ns, "lake-query")
		}
		c.waitCondition(t, ns, "lake", lakev1.ConditionReady, metav1.ConditionTrue)
	}

	t.Run("the sessions write their own bucket and are refused another tenant's", func(t *testing.T) {
		own := c.sessionOf(t, "sts-0", "lake-storage")
		if err := putProbe(own, "tl-sts-0-lake"); err != nil {
			t.Errorf("the session cannot write its own bucket: %v", err)
		}
		wantAccessDenied(t, "the session writing another tenant's bucket", putProbe(own, "tl-sts-1-lake"))
		query := c.sessionOf(t, "sts-0", "lake-query-storage")
		wantAccessDenied(t, "the query server's session writing", putProbe(query, "tl-sts-0-lake"))
		if _, err := query.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("tl-sts-0-lake"), Key: aws.String("probe")}); err != nil {
			t.Errorf("the query server's session cannot read its own bucket: %v", err)
		}
	})

	t.Run("no IAM user was made", func(t *testing.T) {
		if got := c.s3.IAMUserCount(t); got != users {
			t.Errorf("the store had %d IAM users before the lakes and %d after", users, got)
		}
	})

	t.Run("a reconcile that changes nothing calls no store", func(t *testing.T) {
		c.checkQuietReconcile(t, "sts-0", "lake")
	})

	t.Run("a restarted manager makes no writes and no store calls", func(t *testing.T) {
		c.checkQuietRestart(t, 2)
	})

	t.Run("the sessions are replaced before they expire, with AssumeRole alone", func(t *testing.T) {
		old := map[string]s3client.CredentialsFile{}
		for _, s := range []struct{ ns, name string }{{"sts-0", "lake-storage"}, {"sts-0", "lake-query-storage"}, {"sts-1", "lake-storage"}} {
			old[s.ns+"/"+s.name] = c.sessionFile(t, s.ns, s.name)
		}
		// SeaweedFS, like AWS, issues no session shorter than 15 minutes: rather than wait two
		// thirds of one, this manager replaces a session 8 s after it was issued.
		c.settle(t)
		c.mgr.stop()
		c.mgr = c.startManager(t, managerConfig{sessionRefreshAhead: 15*time.Minute - 8*time.Second})
		for key, was := range old {
			ns, name, _ := strings.Cut(key, "/")
			eventually(t, 30*time.Second, "a new session in "+key, func() (bool, string) {
				now := c.sessionFile(t, ns, name)
				return now.AccessKeyID != was.AccessKeyID && now.Expiration.After(*was.Expiration), now.AccessKeyID
			})
		}
		// Nothing but AssumeRole: no bucket call, no IAM call.
		if calls, sessions := c.mgr.storeCalls.Load(), c.mgr.sessionCalls.Load(); calls != sessions || calls == 0 {
			t.Errorf("the refreshes made %d store calls, %d of them AssumeRole; want AssumeRole alone", calls, sessions)
		}
		fresh := c.sessionOf(t, "sts-1", "lake-storage")
		if err := putProbe(fresh, "tl-sts-1-lake"); err != nil {
			t.Errorf("the new session cannot write its own bucket: %v", err)
		}
		wantAccessDenied(t, "the new session writing another tenant's bucket", putProbe(fresh, "tl-sts-0-lake"))
		lake := c.lake(t, "sts-1", "lake")
		if cond := condition(lake, lakev1.ConditionReady); cond.Status != metav1.ConditionTrue {
			t.Errorf("Ready after the refresh: %s", describe(lake))
		}
		// Each session is replaced once per window, not in a loop.
		start := c.mgr.sessionCalls.Load()
		time.Sleep(10 * time.Second)
		if got := c.mgr.sessionCalls.Load() - start; got > 6 {
			t.Errorf("%d AssumeRole calls in 10 s for 3 sessions replaced every 8 s", got)
		}
		c.mgr.stop()
		c.mgr = c.startManager(t, managerConfig{})
	})

	t.Run("a class switched from IAM users revokes them once its lakes hold sessions", func(t *testing.T) {
		c.storageClass(t, "iam", c.s3.Endpoint, "lake-admin", false)
		c.createNamespace(t, "switch")
		lake := &lakev1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{Name: "lake", Namespace: "switch"}, Spec: lakev1.TelemetryLakeSpec{StorageClassName: "iam"}}
		if err := c.client.Create(ctx, lake); err != nil {
			t.Fatal(err)
		}
		c.waitCondition(t, "switch", "lake", lakev1.ConditionCredentialsReady, metav1.ConditionTrue)
		user := provision.UserName(provision.Tenant{Namespace: "switch", Name: "lake"})
		if _, err := c.s3.IAMClient(t).GetUser(ctx, &iam.GetUserInput{UserName: aws.String(user)}); err != nil {
			t.Fatalf("the IAMUser class made no user %s: %v", user, err)
		}
		class := &lakev1.LakeStorageClass{}
		c.get(t, "", "iam", class)
		class.Spec.Credentials = &lakev1.CredentialSettings{Mode: lakev1.CredentialModeAssumeRole, RoleARN: role}
		if err := c.client.Update(ctx, class); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "the lake's Secret to hold a session", func() (bool, string) {
			s := c.secret(t, "switch", "lake-storage")
			return len(s.Data[wellknown.SecretKeySessionToken]) > 0, "no session token"
		})
		eventually(t, 30*time.Second, "the IAM user to be revoked", func() (bool, string) {
			_, err := c.s3.IAMClient(t).GetUser(ctx, &iam.GetUserInput{UserName: aws.String(user)})
			return err != nil, fmt.Sprint(err)
		})
	})

	t.Run("deleting a lake calls no IAM and leaves no Secret", func(t *testing.T) {
		l := c.lake(t, "sts-1", "lake")
		if err := c.client.Delete(ctx, l); err != nil {
			t.Fatal(err)
		}
		c.waitGone(t, "sts-1", "lake")
		if got := c.s3.IAMUserCount(t); got != users {
			t.Errorf("IAM users %d after the delete; want %d", got, users)
		}
	})

	t.Run("the sample class is valid", func(t *testing.T) {
		raw := harness.ReadFile(t, filepath.Join("..", "config", "samples", "lake_v1alpha1_lakestorageclass_assumerole.yaml"))
		sample := &lakev1.LakeStorageClass{}
		if err := yaml.UnmarshalStrict(raw, sample); err != nil {
			t.Fatal(err)
		}
		if !sample.Spec.AssumesRole() {
			t.Fatal("the sample class assumes no role")
		}
		if err := c.client.Create(ctx, sample); err != nil {
			t.Errorf("the API server refused the sample class: %v", err)
		}
	})

	t.Run("the schema refuses a role mode it cannot serve", func(t *testing.T) {
		s3 := &lakev1.S3Settings{AdminCredentialsSecretRef: lakev1.SecretReference{Name: "lake-admin"}}
		for want, spec := range map[string]lakev1.LakeStorageClassSpec{
			"roleARN is required": {Provisioner: lakev1.ProvisionerS3IAM, S3: s3, Credentials: &lakev1.CredentialSettings{Mode: lakev1.CredentialModeAssumeRole}},
			"needs the s3-iam provisioner": {Provisioner: lakev1.ProvisionerS3Static, S3: s3,
				Credentials: &lakev1.CredentialSettings{Mode: lakev1.CredentialModeAssumeRole, RoleARN: role}},
			"between 15m and 12h": {Provisioner: lakev1.ProvisionerS3IAM, S3: s3,
				Credentials: &lakev1.CredentialSettings{Mode: lakev1.CredentialModeAssumeRole, RoleARN: role, SessionDuration: &metav1.Duration{Duration: time.Minute}}},
			"roleARN is only used": {Provisioner: lakev1.ProvisionerS3IAM, S3: s3, Credentials: &lakev1.CredentialSettings{Mode: lakev1.CredentialModeIAMUser, RoleARN: role}},
		} {
			bad := &lakev1.LakeStorageClass{ObjectMeta: metav1.ObjectMeta{Name: "bad"}, Spec: spec}
			if err := c.client.Create(ctx, bad); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), want) {
				t.Errorf("a class the schema must refuse with %q: %v", want, err)
			}
		}
	})
}

// sessionClass creates an s3-iam LakeStorageClass in credentials mode AssumeRole on the test's
// SeaweedFS.
func (c *cluster) sessionClass(t *testing.T, name, role string, duration time.Duration) {
	t.Helper()
	class := &lakev1.LakeStorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: lakev1.LakeStorageClassSpec{
		Provisioner:   lakev1.ProvisionerS3IAM,
		S3:            &lakev1.S3Settings{Endpoint: c.s3.Endpoint, Region: "us-east-1", PathStyle: true, AdminCredentialsSecretRef: lakev1.SecretReference{Name: "lake-admin"}},
		Credentials:   &lakev1.CredentialSettings{Mode: lakev1.CredentialModeAssumeRole, RoleARN: role, SessionDuration: &metav1.Duration{Duration: duration}},
		RetentionDays: ptr.To[int32](30),
	}}
	if err := c.client.Create(context.Background(), class); err != nil {
		t.Fatal(err)
	}
}

// sessionFile is the credentials.json of a storage Secret, which must agree with its other keys.
func (c *cluster) sessionFile(t *testing.T, ns, name string) s3client.CredentialsFile {
	t.Helper()
	s := c.secret(t, ns, name)
	f, err := s3client.ParseCredentialsFile(s.Data[wellknown.SecretKeyCredentialsFile])
	if err != nil {
		t.Fatalf("Secret %s/%s: %v", ns, name, err)
	}
	if f.SessionToken == "" || f.Expiration == nil || f.AccessKeyID != string(s.Data[wellknown.SecretKeyAccessKeyID]) ||
		f.SessionToken != string(s.Data[wellknown.SecretKeySessionToken]) {
		t.Fatalf("Secret %s/%s: its credentials.json is no session of its keys", ns, name)
	}
	return f
}

// sessionOf is an S3 client with the session of a storage Secret.
func (c *cluster) sessionOf(t *testing.T, ns, name string) *s3.Client {
	f := c.sessionFile(t, ns, name)
	return c.s3.SessionS3Client(t, f.AccessKeyID, f.SecretAccessKey, f.SessionToken)
}

func putProbe(client *s3.Client, bucket string) error {
	_, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("probe"), Body: strings.NewReader("x")})
	return err
}
