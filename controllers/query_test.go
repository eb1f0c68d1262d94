package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/telemetrylake/telemetrylake/api/tokenfile"
	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers/provision"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// TestQueryServer: spec.query gives the tenant a query Deployment and Service holding a read-only
// key of its own, which reads and lists the tenant's bucket, writes nothing, and is refused another
// tenant's; against a real kube-apiserver and a real SeaweedFS with IAM.
func TestQueryServer(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	c.adminSecret(t, "lake-admin")
	c.storageClass(t, "seaweedfs", c.s3.Endpoint, "lake-admin", true)
	c.createNamespace(t, "team-q")
	c.createNamespace(t, "team-r")
	teamQ := &lakev1.TelemetryLake{
		ObjectMeta: metav1.ObjectMeta{Name: "team-q", Namespace: "team-q"},
		Spec: lakev1.TelemetryLakeSpec{
			Auth: lakev1.AuthSpec{Tokens: []lakev1.TokenSpec{
				{Name: "claude"},
				{Name: "grafana", Permissions: []lakev1.Permission{lakev1.PermissionQuery}},
			}},
			Query: lakev1.QuerySpec{Enabled: true},
		},
	}
	teamR := &lakev1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{Name: "team-r", Namespace: "team-r"}}
	for _, l := range []*lakev1.TelemetryLake{teamQ, teamR} {
		if err := c.client.Create(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	c.waitCondition(t, "team-q", "team-q", lakev1.ConditionCredentialsReady, metav1.ConditionTrue)
	c.waitCondition(t, "team-r", "team-r", lakev1.ConditionCredentialsReady, metav1.ConditionTrue)
	const ownBucket, otherBucket = "tl-team-q-team-q", "tl-team-r-team-r"

	var queryKey *corev1.Secret
	t.Run("spec.query creates the Deployment, the Service and the read-only key's Secret", func(t *testing.T) {
		eventually(t, 30*time.Second, "the query server's children", func() (bool, string) {
			for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}} {
				if err := c.client.Get(ctx, client.ObjectKey{Namespace: "team-q", Name: "team-q-query"}, obj); err != nil {
					return false, fmt.Sprintf("%T: %v", obj, err)
				}
			}
			for _, name := range []string{"team-q-query-storage", "team-q-query-connection"} {
				if err := c.client.Get(ctx, client.ObjectKey{Namespace: "team-q", Name: name}, &corev1.Secret{}); err != nil {
					return false, fmt.Sprintf("Secret %s: %v", name, err)
				}
			}
			return true, ""
		})
		d := c.deployment(t, "team-q", "team-q-query")
		pod := d.Spec.Template.Spec
		args := strings.Join(pod.Containers[0].Args, " ")
		for _, want := range []string{"serve ", "--storage s3://" + ownBucket, "--listen :5432", "--token-file " + wellknown.TokenFile} {
			if !strings.Contains(args, want) {
				t.Errorf("the query container's args %q lack %q", args, want)
			}
		}
		for _, e := range pod.Containers[0].Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name != "team-q-query-storage" {
				t.Errorf("the query server reads %s from Secret %s, not its read-only one", e.Name, e.ValueFrom.SecretKeyRef.Name)
			}
		}
		if !slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool { return v.EmptyDir != nil }) {
			t.Errorf("the query pod has no emptyDir for its part cache: %+v", pod.Volumes)
		}
		svc := &corev1.Service{}
		c.get(t, "team-q", "team-q-query", svc)
		if len(svc.Spec.Ports) == 0 || svc.Spec.Ports[0].Port != wellknown.PostgresPort {
			t.Errorf("the query Service's ports are %+v; want 5432 first", svc.Spec.Ports)
		}
		conn := c.secret(t, "team-q", "team-q-query-connection")
		if got, want := string(conn.Data[wellknown.SecretKeyConnectionURL]), "postgres://grafana@team-q-query.team-q.svc:5432/lake?sslmode=disable"; got != want {
			t.Errorf("the connection string is %q; want %q", got, want)
		}
		if ds := string(conn.Data[wellknown.SecretKeyGrafanaDataSource]); !strings.Contains(ds, "grafana-postgresql-datasource") || !strings.Contains(ds, "team-q-query.team-q.svc:5432") {
			t.Errorf("the Grafana data source is\n%s", ds)
		}
		var file tokenfile.File
		if err := yaml.Unmarshal(c.secret(t, "team-q", "team-q-ingester-auth").Data[wellknown.SecretKeyTokens], &file); err != nil {
			t.Fatal(err)
		}
		for _, e := range file.Tokens {
			if e.Allows(tokenfile.PermissionQuery) != (e.Name == "grafana") {
				t.Errorf("token %s in the token file: permissions %v; only grafana may query", e.Name, e.Permissions)
			}
		}
		queryKey = c.secret(t, "team-q", "team-q-query-storage")
		if string(queryKey.Data[wellknown.SecretKeyAccessKeyID]) == string(c.secret(t, "team-q", "team-q-storage").Data[wellknown.SecretKeyAccessKeyID]) {
			t.Fatal("the query server holds the ingester's read-write key")
		}
		for _, lake := range []string{"team-q", "team-r"} {
			if err := c.client.Get(ctx, client.ObjectKey{Namespace: lake, Name: lake + "-query"}, &appsv1.Deployment{}); lake == "team-r" && !apierrors.IsNotFound(err) {
				t.Errorf("team-r, without spec.query, has a query Deployment: %v", err)
			}
		}
	})
	if queryKey == nil {
		t.FailNow()
	}

	t.Run("Ready waits for the query server, and QueryAvailable reports it", func(t *testing.T) {
		c.rollOut(t, "team-q", "team-q-ingester")
		c.waitCondition(t, "team-q", "team-q", lakev1.ConditionIngesterAvailable, metav1.ConditionTrue)
		c.poke(t, "team-q", "team-q")
		c.waitCondition(t, "team-q", "team-q", lakev1.ConditionQueryAvailable, metav1.ConditionFalse)
		if cond := condition(c.lake(t, "team-q", "team-q"), lakev1.ConditionReady); cond.Status != metav1.ConditionFalse {
			t.Errorf("Ready = %+v before the query server rolled out", cond)
		}
		c.rollOut(t, "team-q", "team-q-query")
		c.waitCondition(t, "team-q", "team-q", lakev1.ConditionQueryAvailable, metav1.ConditionTrue)
		c.waitCondition(t, "team-q", "team-q", lakev1.ConditionReady, metav1.ConditionTrue)
		if l := c.lake(t, "team-q", "team-q"); l.Status.QueryEndpoint != "team-q-query.team-q.svc:5432" {
			t.Errorf("status.queryEndpoint = %q", l.Status.QueryEndpoint)
		}
		if _, has := c.lake(t, "team-r", "team-r").Status.Conditions, findCondition(c.lake(t, "team-r", "team-r").Status.Conditions, lakev1.ConditionQueryAvailable) != nil; has {
			t.Error("team-r, without spec.query, has a QueryAvailable condition")
		}
	})

	t.Run("the read-only key reads and lists its own bucket, writes nothing and is refused another tenant's", func(t *testing.T) {
		admin := c.admin(t)
		for _, bucket := range []string{ownBucket, otherBucket} {
			if _, err := admin.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("blocks/logs/b1.pb"), Body: strings.NewReader("x")}); err != nil {
				t.Fatal(err)
			}
		}
		key := c.s3.S3Client(t, string(queryKey.Data[wellknown.SecretKeyAccessKeyID]), string(queryKey.Data[wellknown.SecretKeySecretAccessKey]))
		out, err := key.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(ownBucket), Key: aws.String("blocks/logs/b1.pb")})
		if err != nil {
			t.Fatalf("GetObject of its own block: %v", err)
		}
		out.Body.Close()
		list, err := key.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(ownBucket)})
		if err != nil || len(list.Contents) == 0 {
			t.Fatalf("ListObjectsV2 of its own bucket: %v, %v", list, err)
		}
		_, err = key.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(ownBucket), Key: aws.String("blocks/logs/b2.pb"), Body: strings.NewReader("x")})
		wantAccessDenied(t, "PutObject into its own bucket", err)
		_, err = key.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(ownBucket), Key: aws.String("blocks/logs/b1.pb")})
		wantAccessDenied(t, "DeleteObject in its own bucket", err)
		_, err = key.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(otherBucket), Key: aws.String("blocks/logs/b1.pb")})
		wantAccessDenied(t, "GetObject of another tenant's block", err)
		_, err = key.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(otherBucket)})
		wantAccessDenied(t, "ListObjectsV2 of another tenant's bucket", err)
	})

	t.Run("a change elsewhere in the spec keeps the read-only key", func(t *testing.T) {
		c.update(t, teamQ, func(l *lakev1.TelemetryLake) { l.Spec.Ingester.Replicas = ptr.To[int32](3) })
		c.waitCondition(t, "team-q", "team-q", lakev1.ConditionCredentialsReady, metav1.ConditionTrue)
		eventually(t, 20*time.Second, "the ingester to have 3 replicas", func() (bool, string) {
			d := c.deployment(t, "team-q", "team-q-ingester")
			return d.Spec.Replicas != nil && *d.Spec.Replicas == 3, fmt.Sprint(d.Spec.Replicas)
		})
		if got := c.secret(t, "team-q", "team-q-query-storage"); string(got.Data[wellknown.SecretKeyAccessKeyID]) != string(queryKey.Data[wellknown.SecretKeyAccessKeyID]) {
			t.Errorf("the read-only key changed from %s to %s", queryKey.Data[wellknown.SecretKeyAccessKeyID], got.Data[wellknown.SecretKeyAccessKeyID])
		}
	})

	t.Run("turning spec.query off removes the query server and its Secrets", func(t *testing.T) {
		c.update(t, teamQ, func(l *lakev1.TelemetryLake) { l.Spec.Query.Enabled = false })
		eventually(t, 30*time.Second, "the query server's children to go", func() (bool, string) {
			for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}} {
				if err := c.client.Get(ctx, client.ObjectKey{Namespace: "team-q", Name: "team-q-query"}, obj); !apierrors.IsNotFound(err) {
					return false, fmt.Sprintf("%T: %v", obj, err)
				}
			}
			for _, name := range []string{"team-q-query-storage", "team-q-query-connection"} {
				if err := c.client.Get(ctx, client.ObjectKey{Namespace: "team-q", Name: name}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
					return false, fmt.Sprintf("Secret %s: %v", name, err)
				}
			}
			return true, ""
		})
	})

	t.Run("turning spec.query off revokes the read-only key and keeps the ingester's", func(t *testing.T) {
		user := provision.ReadOnlyUserName(provision.Tenant{Namespace: "team-q", Name: "team-q"})
		eventually(t, 30*time.Second, "IAM user "+user+" to go", func() (bool, string) {
			_, err := c.s3.IAMClient(t).GetUser(ctx, &iam.GetUserInput{UserName: aws.String(user)})
			var ae smithy.APIError
			return errors.As(err, &ae) && ae.ErrorCode() == "NoSuchEntity", fmt.Sprint(err)
		})
		rw := c.secret(t, "team-q", "team-q-storage")
		key := c.s3.S3Client(t, string(rw.Data[wellknown.SecretKeyAccessKeyID]), string(rw.Data[wellknown.SecretKeySecretAccessKey]))
		if _, err := key.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(ownBucket), Key: aws.String("blocks/logs/b3.pb"), Body: strings.NewReader("x")}); err != nil {
			t.Errorf("the ingester's key stopped working: %v", err)
		}
	})

	t.Run("turning it on again makes a new read-only key", func(t *testing.T) {
		c.update(t, teamQ, func(l *lakev1.TelemetryLake) { l.Spec.Query.Enabled = true })
		eventually(t, 30*time.Second, "a new read-only key", func() (bool, string) {
			s := &corev1.Secret{}
			if err := c.client.Get(ctx, client.ObjectKey{Namespace: "team-q", Name: "team-q-query-storage"}, s); err != nil {
				return false, err.Error()
			}
			return string(s.Data[wellknown.SecretKeyAccessKeyID]) != string(queryKey.Data[wellknown.SecretKeyAccessKeyID]), "the old key"
		})
		s := c.secret(t, "team-q", "team-q-query-storage")
		key := c.s3.S3Client(t, string(s.Data[wellknown.SecretKeyAccessKeyID]), string(s.Data[wellknown.SecretKeySecretAccessKey]))
		eventually(t, 10*time.Second, "the new key to read", func() (bool, string) {
			_, err := key.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(ownBucket)})
			return err == nil, fmt.Sprint(err)
		})
		_, err := key.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(ownBucket), Key: aws.String("blocks/logs/b4.pb"), Body: strings.NewReader("x")})
		wantAccessDenied(t, "PutObject with the new read-only key", err)
	})

	t.Run("deleting the lake removes the read-only IAM user", func(t *testing.T) {
		if err := c.client.Delete(ctx, c.lake(t, "team-q", "team-q")); err != nil {
			t.Fatal(err)
		}
		user := provision.ReadOnlyUserName(provision.Tenant{Namespace: "team-q", Name: "team-q"})
		eventually(t, 30*time.Second, "IAM user "+user+" to go", func() (bool, string) {
			_, err := c.s3.IAMClient(t).GetUser(ctx, &iam.GetUserInput{UserName: aws.String(user)})
			var ae smithy.APIError
			return errors.As(err, &ae) && ae.ErrorCode() == "NoSuchEntity", fmt.Sprint(err)
		})
	})
}

// wantAccessDenied fails unless err is the store's 403 AccessDenied.
func wantAccessDenied(t *testing.T, what string, err error) {
	t.Helper()
	var ae smithy.APIError
	if harness.HTTPStatus(err) != http.StatusForbidden || !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" {
		t.Errorf("%s: %v; want 403 AccessDenied", what, err)
	}
}
