package controllers

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/telemetrylake/telemetrylake/api/tokenfile"
	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers/builders"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// TestOperator runs the operator against a real kube-apiserver and a real SeaweedFS. The subtests
// share the cluster and build on each other, as a tenant's life does.
func TestOperator(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	c.adminSecret(t, "lake-admin")
	c.storageClass(t, "seaweedfs", c.s3.Endpoint, "lake-admin", true)

	c.createNamespace(t, "team-a")
	c.createNamespace(t, "team-b")
	teamA := &lakev1.TelemetryLake{
		ObjectMeta: metav1.ObjectMeta{Name: "team-a", Namespace: "team-a"},
		Spec: lakev1.TelemetryLakeSpec{Auth: lakev1.AuthSpec{
			Tokens:          []lakev1.TokenSpec{{Name: "claude"}, {Name: "ci", Signals: []lakev1.Signal{"traces"}}},
			RotationOverlap: &metav1.Duration{Duration: 3 * time.Second},
		}},
	}
	teamB := &lakev1.TelemetryLake{
		ObjectMeta: metav1.ObjectMeta{Name: "team-b", Namespace: "team-b"},
		Spec: lakev1.TelemetryLakeSpec{
			StorageClassName: "seaweedfs",
			DeletionPolicy:   lakev1.DeletionRetain,
			Auth:             lakev1.AuthSpec{Tokens: []lakev1.TokenSpec{{Name: "claude"}}},
		},
	}
	for _, l := range []*lakev1.TelemetryLake{teamA, teamB} {
		if err := c.client.Create(ctx, l); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("a lake gets its bucket, scoped credentials, token Secrets and ingester", func(t *testing.T) {
		c.waitCondition(t, "team-a", "team-a", lakev1.ConditionCredentialsReady, metav1.ConditionTrue)
		c.waitCondition(t, "team-b", "team-b", lakev1.ConditionCredentialsReady, metav1.ConditionTrue)
		eventually(t, 20*time.Second, "the class with its admin Secret in place to be Ready", func() (bool, string) {
			class := &lakev1.LakeStorageClass{}
			c.get(t, "", "seaweedfs", class)
			return meta.IsStatusConditionTrue(class.Status.Conditions, lakev1.ConditionReady), fmt.Sprintf("%+v", class.Status)
		})
		l := c.lake(t, "team-a", "team-a")
		if _, err := c.admin(t).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("tl-team-a-team-a")}); err != nil {
			t.Errorf("the bucket does not exist: %v", err)
		}
		if l.Status.Storage == nil || l.Status.Storage.Bucket != "tl-team-a-team-a" {
			t.Fatalf("status.storage = %+v", l.Status.Storage)
		}
		if l.Status.Endpoint != "http://team-a-ingester.team-a.svc:4318/ingestion/otlp" {
			t.Errorf("status.endpoint = %q", l.Status.Endpoint)
		}
		if l.Status.ObservedGeneration != l.Generation {
			t.Errorf("observedGeneration %d, generation %d", l.Status.ObservedGeneration, l.Generation)
		}
		for _, typ := range []string{lakev1.ConditionReady, lakev1.ConditionStorageReady, lakev1.ConditionCredentialsReady, lakev1.ConditionIngesterAvailable} {
			if cond := condition(l, typ); cond.Status == "Missing" || cond.ObservedGeneration != l.Generation || cond.Reason == "" {
				t.Errorf("condition %s = %+v", typ, cond)
			}
		}

		// The tenant's own key can write to its bucket and nowhere else.
		creds := c.secret(t, "team-a", "team-a-storage")
		own := c.s3.S3Client(t, string(creds.Data[wellknown.SecretKeyAccessKeyID]), string(creds.Data[wellknown.SecretKeySecretAccessKey]))
		if _, err := own.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tl-team-a-team-a"), Key: aws.String("probe"), Body: strings.NewReader("x")}); err != nil {
			t.Errorf("tenant key cannot write its own bucket: %v", err)
		}
		_, err := own.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tl-team-b-team-b"), Key: aws.String("probe"), Body: strings.NewReader("x")})
		if harness.HTTPStatus(err) != 403 {
			t.Errorf("tenant key writing another tenant's bucket: %v, want 403", err)
		}

		for _, tok := range []string{"claude", "ci"} {
			s := c.secret(t, "team-a", "team-a-token-"+tok)
			value := string(s.Data[wellknown.SecretKeyToken])
			if !strings.HasPrefix(value, tokenfile.Prefix) ||
				string(s.Data[wellknown.SecretKeyOTLPEndpoint]) != l.Status.Endpoint ||
				string(s.Data[wellknown.SecretKeyOTLPHeaders]) != "Authorization=Bearer "+value {
				t.Errorf("token Secret %s holds %v", s.Name, s.Data)
			}
			if !c.authFileHas(t, "team-a", tokenfile.Hash(value)) {
				t.Errorf("the ingester's token file lacks %s's hash", tok)
			}
		}
		authSecret := c.secret(t, "team-a", "team-a-ingester-auth")
		for _, tok := range []string{"claude", "ci"} {
			if bytes.Contains(authSecret.Data[wellknown.SecretKeyTokens], c.secret(t, "team-a", "team-a-token-"+tok).Data[wellknown.SecretKeyToken]) {
				t.Error("the ingester's auth Secret holds a token itself, not only its hash")
			}
		}

		d := c.deployment(t, "team-a", "team-a-ingester")
		want := c.desiredDeployment(t, l, creds)
		wantMap, _ := runtime.DefaultUnstructuredConverter.ToUnstructured(want)
		pruneForApply(wantMap)
		d.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("Deployment"))
		liveMap, _ := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
		if diff := firstDifference(wantMap, liveMap, ""); diff != "" {
			t.Errorf("the Deployment is not what the builders say, at %s", diff)
		}
		container := d.Spec.Template.Spec.Containers[0]
		if container.Image != "ghcr.io/telemetrylake/ingester:test" || d.Spec.Template.Annotations[wellknown.AnnotationConfigHash] == "" {
			t.Errorf("Deployment image %q, annotations %v", container.Image, d.Spec.Template.Annotations)
		}
		if ref := metav1.GetControllerOf(d); ref == nil || ref.Kind != "TelemetryLake" || ref.Name != "team-a" {
			t.Errorf("Deployment owner %+v", ref)
		}
		svc := &corev1.Service{}
		c.get(t, "team-a", "team-a-ingester", svc)
		if len(svc.Spec.Ports) != 2 {
			t.Errorf("Service ports %+v", svc.Spec.Ports)
		}
	})

	t.Run("Ready turns True only for the pods of the current generation", func(t *testing.T) {
		c.rollOut(t, "team-a", "team-a-ingester")
		c.waitCondition(t, "team-a", "team-a", lakev1.ConditionReady, metav1.ConditionTrue)
		l := c.lake(t, "team-a", "team-a")
		if cond := condition(l, lakev1.ConditionReady); cond.ObservedGeneration != l.Generation {
			t.Errorf("Ready describes generation %d, lake is at %d", cond.ObservedGeneration, l.Generation)
		}

		before := c.deployment(t, "team-a", "team-a-ingester").Spec.Template.Annotations[wellknown.AnnotationConfigHash]
		c.update(t, l, func(l *lakev1.TelemetryLake) { l.Spec.Ingester.LogLevel = "debug" })
		c.waitCondition(t, "team-a", "team-a", lakev1.ConditionReady, metav1.ConditionFalse)
		if got := condition(c.lake(t, "team-a", "team-a"), lakev1.ConditionReady).Reason; got != lakev1.ReasonRollingOut {
			t.Errorf("Ready reason during the roll = %s, want %s", got, lakev1.ReasonRollingOut)
		}
		if after := c.deployment(t, "team-a", "team-a-ingester").Spec.Template.Annotations[wellknown.AnnotationConfigHash]; after == before {
			t.Error("a config change did not change the pod template's config hash")
		}
		c.rollOut(t, "team-a", "team-a-ingester")
		c.waitCondition(t, "team-a", "team-a", lakev1.ConditionReady, metav1.ConditionTrue)
	})

	t.Run("children edited or deleted by hand are restored", func(t *testing.T) {
		svc := &corev1.Service{}
		c.get(t, "team-a", "team-a-ingester", svc)
		if err := c.client.Delete(ctx, svc); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "the Service to come back", func() (bool, string) {
			err := c.client.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "team-a-ingester"}, &corev1.Service{})
			return err == nil, fmt.Sprint(err)
		})
		d := c.deployment(t, "team-a", "team-a-ingester")
		d.Spec.Template.Spec.Containers[0].Image = "evil:latest"
		if err := c.client.Update(ctx, d); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "the image to be restored", func() (bool, string) {
			img := c.deployment(t, "team-a", "team-a-ingester").Spec.Template.Spec.Containers[0].Image
			return img == "ghcr.io/telemetrylake/ingester:test", img
		})
		// The cache holds only children labeled managed-by (CacheOptions): one that loses the
		// label leaves the cache, and must still be repaired, not forgotten.
		sa := &corev1.ServiceAccount{}
		c.get(t, "team-a", "team-a-ingester", sa)
		delete(sa.Labels, wellknown.LabelManagedBy)
		if err := c.client.Update(ctx, sa); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "the managed-by label to be restored", func() (bool, string) {
			c.get(t, "team-a", "team-a-ingester", sa)
			return sa.Labels[wellknown.LabelManagedBy] == wellknown.ManagedBy, fmt.Sprint(sa.Labels)
		})
		c.rollOut(t, "team-a", "team-a-ingester")
		c.waitCondition(t, "team-a", "team-a", lakev1.ConditionReady, metav1.ConditionTrue)
	})

	t.Run("the cache holds only the operator's own children, without managedFields", func(t *testing.T) {
		bystander := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "bystander", Namespace: "team-b", Labels: map[string]string{"app": "bystander"}},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "bystander"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "bystander"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}},
				},
			},
		}
		// A marker of the same kind, labeled as the operator's, created after the bystander: one
		// watch delivers both in order, so once the cache holds the marker it would hold the
		// bystander too, had it been selected.
		marker := bystander.DeepCopy()
		marker.Name, marker.Labels = "marker", map[string]string{"app": "bystander", wellknown.LabelManagedBy: wellknown.ManagedBy}
		for _, obj := range []*appsv1.Deployment{bystander, marker} {
			if err := c.client.Create(ctx, obj); err != nil {
				t.Fatal(err)
			}
			defer c.client.Delete(ctx, obj)
		}
		eventually(t, 20*time.Second, "the cache to see the marker", func() (bool, string) {
			err := c.mgr.cached.Get(ctx, client.ObjectKeyFromObject(marker), &appsv1.Deployment{})
			return err == nil, fmt.Sprint(err)
		})
		d := &appsv1.Deployment{}
		if err := c.mgr.cached.Get(ctx, client.ObjectKey{Namespace: "team-b", Name: "team-b-ingester"}, d); err != nil {
			t.Fatal(err)
		}
		if err := c.mgr.cached.Get(ctx, client.ObjectKeyFromObject(bystander), &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
			t.Errorf("the operator's cache holds a Deployment it does not manage: %v", err)
		}
		if len(d.ManagedFields) != 0 {
			t.Errorf("the cached Deployment keeps %d managedFields entries", len(d.ManagedFields))
		}
		c.get(t, "team-b", "team-b-ingester", d)
		if len(d.ManagedFields) == 0 {
			t.Error("the API server's copy has no managedFields, so the check above proves nothing")
		}
	})

	t.Run("spec.lakehouse creates, updates and removes the materialization CronJob", func(t *testing.T) {
		cj := &batchv1.CronJob{}
		c.get(t, "team-a", "team-a-lakehouse", cj)
		if cj.Spec.Schedule != "*/15 * * * *" || cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
			t.Errorf("CronJob schedule %q, concurrency %s", cj.Spec.Schedule, cj.Spec.ConcurrencyPolicy)
		}
		c.update(t, c.lake(t, "team-a", "team-a"), func(l *lakev1.TelemetryLake) { l.Spec.Lakehouse.Schedule = "0 * * * *" })
		eventually(t, 20*time.Second, "the new schedule", func() (bool, string) {
			c.get(t, "team-a", "team-a-lakehouse", cj)
			return cj.Spec.Schedule == "0 * * * *", cj.Spec.Schedule
		})
		c.update(t, c.lake(t, "team-a", "team-a"), func(l *lakev1.TelemetryLake) { l.Spec.Lakehouse.Enabled = ptr.To(false) })
		eventually(t, 20*time.Second, "the CronJob to be removed", func() (bool, string) {
			err := c.client.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "team-a-lakehouse"}, &batchv1.CronJob{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
		c.update(t, c.lake(t, "team-a", "team-a"), func(l *lakev1.TelemetryLake) { l.Spec.Lakehouse.Enabled = ptr.To(true) })
		eventually(t, 20*time.Second, "the CronJob to come back", func() (bool, string) {
			err := c.client.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "team-a-lakehouse"}, &batchv1.CronJob{})
			return err == nil, fmt.Sprint(err)
		})
		c.rollOut(t, "team-a", "team-a-ingester")
		c.waitCondition(t, "team-a", "team-a", lakev1.ConditionReady, metav1.ConditionTrue)
	})

	t.Run("a steady state makes no writes", func(t *testing.T) {
		time.Sleep(2 * time.Second) // let the events of the last roll settle
		start := c.mgr.writes.Load()
		if start == 0 {
			t.Fatal("the write counter saw none of the provisioning writes: it counts nothing")
		}
		// Wake the reconciler as a resync would, with nothing to change: an annotation the
		// operator does not read, set by the test's own client (not counted).
		for i := range 3 {
			l := c.lake(t, "team-a", "team-a")
			patch := client.MergeFrom(l.DeepCopy())
			metav1.SetMetaDataAnnotation(&l.ObjectMeta, "test.telemetrylake.io/poke", fmt.Sprint(i))
			if err := c.client.Patch(ctx, l, patch); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Second)
		}
		if writes := c.mgr.writes.Load() - start; writes != 0 {
			t.Errorf("the manager made %d writes in 30 s of steady state, with three reconciles", writes)
		}
	})

	t.Run("a new CA for an OIDC issuer rolls the ingester", func(t *testing.T) {
		ca := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "idp-ca", Namespace: "team-a"}, StringData: map[string]string{wellknown.SecretKeyCA: "first CA"}}
		if err := c.client.Create(ctx, ca); err != nil {
			t.Fatal(err)
		}
		c.update(t, c.lake(t, "team-a", "team-a"), func(l *lakev1.TelemetryLake) {
			l.Spec.Auth.OIDC = []lakev1.OIDCIssuer{{IssuerURL: "https://idp.example.com", Audiences: []string{"telemetrylake"}, CASecretRef: &corev1.LocalObjectReference{Name: "idp-ca"}}}
		})
		hash := func() string {
			return c.deployment(t, "team-a", "team-a-ingester").Spec.Template.Annotations[wellknown.AnnotationConfigHash]
		}
		var before string
		eventually(t, 20*time.Second, "the issuer to reach the Deployment", func() (bool, string) {
			d := c.deployment(t, "team-a", "team-a-ingester")
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Projected != nil {
					for _, src := range v.Projected.Sources {
						if src.Secret != nil && src.Secret.Name == "idp-ca" {
							before = hash()
							return true, ""
						}
					}
				}
			}
			return false, "no volume source for idp-ca"
		})
		ca.StringData = map[string]string{wellknown.SecretKeyCA: "second CA"}
		if err := c.client.Update(ctx, ca); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "a new config hash after the CA changed", func() (bool, string) {
			return hash() != before, "hash unchanged: " + before
		})
		c.rollOut(t, "team-a", "team-a-ingester")
		c.waitCondition(t, "team-a", "team-a", lakev1.ConditionReady, metav1.ConditionTrue)
	})

	t.Run("a rotated token overlaps with its successor, then expires", func(t *testing.T) {
		old := string(c.secret(t, "team-a", "team-a-token-claude").Data[wellknown.SecretKeyToken])
		l := c.lake(t, "team-a", "team-a")
		patch := client.MergeFrom(l.DeepCopy())
		metav1.SetMetaDataAnnotation(&l.ObjectMeta, wellknown.AnnotationRotateToken, "claude")
		if err := c.client.Patch(ctx, l, patch); err != nil {
			t.Fatal(err)
		}
		var fresh string
		eventually(t, 20*time.Second, "a new token", func() (bool, string) {
			fresh = string(c.secret(t, "team-a", "team-a-token-claude").Data[wellknown.SecretKeyToken])
			return fresh != old, "still the old token"
		})
		if !c.authFileHas(t, "team-a", tokenfile.Hash(old)) || !c.authFileHas(t, "team-a", tokenfile.Hash(fresh)) {
			t.Error("during the overlap both tokens must be accepted")
		}
		eventually(t, 20*time.Second, "the old token to be dropped after the 3 s overlap", func() (bool, string) {
			return !c.authFileHas(t, "team-a", tokenfile.Hash(old)), "old hash still in the token file"
		})
		if !c.authFileHas(t, "team-a", tokenfile.Hash(fresh)) {
			t.Error("the new token was dropped too")
		}
	})

	t.Run("bad input gives a clear reason", func(t *testing.T) {
		c.createNamespace(t, "team-c")
		lost := &lakev1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{Name: "lost", Namespace: "team-c"},
			Spec: lakev1.TelemetryLakeSpec{StorageClassName: "no-such-class"}}
		if err := c.client.Create(ctx, lost); err != nil {
			t.Fatal(err)
		}
		c.waitReason(t, "team-c", "lost", lakev1.ConditionReady, lakev1.ReasonStorageClassNotFound)

		c.storageClass(t, "no-admin-secret", c.s3.Endpoint, "missing-secret", false)
		orphan := &lakev1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: "team-c"},
			Spec: lakev1.TelemetryLakeSpec{StorageClassName: "no-admin-secret"}}
		if err := c.client.Create(ctx, orphan); err != nil {
			t.Fatal(err)
		}
		c.waitReason(t, "team-c", "orphan", lakev1.ConditionReady, lakev1.ReasonAdminCredentialsNotFound)
		eventually(t, 20*time.Second, "the class itself to say its Secret is missing", func() (bool, string) {
			class := &lakev1.LakeStorageClass{}
			c.get(t, "", "no-admin-secret", class)
			cond := findCondition(class.Status.Conditions, lakev1.ConditionReady)
			return cond != nil && cond.Reason == lakev1.ReasonAdminCredentialsNotFound && class.Status.ObservedGeneration == class.Generation, fmt.Sprintf("%+v", class.Status)
		})
		if !strings.Contains(condition(c.lake(t, "team-c", "orphan"), lakev1.ConditionReady).Message, "missing-secret") {
			t.Error("the message does not name the missing Secret")
		}

		c.storageClass(t, "unreachable", "http://127.0.0.1:1", "lake-admin", false)
		stranded := &lakev1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{Name: "stranded", Namespace: "team-c"},
			Spec: lakev1.TelemetryLakeSpec{StorageClassName: "unreachable"}}
		if err := c.client.Create(ctx, stranded); err != nil {
			t.Fatal(err)
		}
		c.waitReason(t, "team-c", "stranded", lakev1.ConditionReady, lakev1.ReasonStoreUnreachable)
		// Nothing is half-created: no child exists for a lake whose storage failed.
		for _, list := range []client.ObjectList{&appsv1.DeploymentList{}, &corev1.SecretList{}, &corev1.ServiceList{}} {
			if err := c.client.List(ctx, list, client.InNamespace("team-c"), client.HasLabels{wellknown.LabelInstance}); err != nil {
				t.Fatal(err)
			}
			if n := meta.LenList(list); n != 0 {
				t.Errorf("%d %T children exist although every lake's storage failed", n, list)
			}
		}

		// A missing OIDC CA Secret is the ingester's configuration failing, not the credentials.
		untrusting := &lakev1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{Name: "untrusting", Namespace: "team-c"},
			Spec: lakev1.TelemetryLakeSpec{StorageClassName: "seaweedfs", Auth: lakev1.AuthSpec{OIDC: []lakev1.OIDCIssuer{{
				IssuerURL: "https://idp.example.com", Audiences: []string{"telemetrylake"}, CASecretRef: &corev1.LocalObjectReference{Name: "no-such-ca"},
			}}}}}
		if err := c.client.Create(ctx, untrusting); err != nil {
			t.Fatal(err)
		}
		c.waitReason(t, "team-c", "untrusting", lakev1.ConditionReady, lakev1.ReasonOIDCCASecretNotFound)
		if got := condition(c.lake(t, "team-c", "untrusting"), lakev1.ConditionIngesterAvailable); got.Reason != lakev1.ReasonOIDCCASecretNotFound || !strings.Contains(got.Message, "no-such-ca") {
			t.Errorf("IngesterAvailable %s: %s, want OIDCCASecretNotFound naming the Secret", got.Reason, got.Message)
		}
		if got := condition(c.lake(t, "team-c", "untrusting"), lakev1.ConditionCredentialsReady); got.Status != metav1.ConditionTrue {
			t.Errorf("CredentialsReady %s (%s), want True: the credentials are not what is missing", got.Status, got.Reason)
		}

		for name, spec := range map[string]lakev1.TelemetryLakeSpec{
			"autoscaling min above max": {Ingester: lakev1.IngesterSpec{Autoscaling: &lakev1.AutoscalingSpec{MinReplicas: 5, MaxReplicas: 2}}},
			"an unknown signal":         {Auth: lakev1.AuthSpec{Tokens: []lakev1.TokenSpec{{Name: "x", Signals: []lakev1.Signal{"profiles"}}}}},
			"a plain-http OIDC issuer":  {Auth: lakev1.AuthSpec{OIDC: []lakev1.OIDCIssuer{{IssuerURL: "http://idp", Audiences: []string{"a"}}}}},
		} {
			bad := &lakev1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: "team-c"}, Spec: spec}
			if err := c.client.Create(ctx, bad); !apierrors.IsInvalid(err) {
				t.Errorf("%s: Create = %v, want the API server to refuse it", name, err)
			}
		}
		for _, name := range []string{"9lives", strings.Repeat("a", 55)} {
			bad := &lakev1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team-c"}}
			if err := c.client.Create(ctx, bad); !apierrors.IsInvalid(err) {
				t.Errorf("%s: Create = %v, want the API server to refuse it", name, err)
			}
		}
		for want, spec := range map[string]lakev1.LakeStorageClassSpec{
			"s3 is required": {Provisioner: lakev1.ProvisionerS3IAM},
			"sharedBucketName is required": {Provisioner: lakev1.ProvisionerS3IAM,
				S3:     &lakev1.S3Settings{AdminCredentialsSecretRef: lakev1.SecretReference{Name: "lake-admin"}},
				Bucket: lakev1.BucketPlacement{Mode: lakev1.SharedBucket}},
		} {
			badClass := &lakev1.LakeStorageClass{ObjectMeta: metav1.ObjectMeta{Name: "bad"}, Spec: spec}
			if err := c.client.Create(ctx, badClass); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), want) {
				t.Errorf("a class the schema must refuse with %q: %v", want, err)
			}
		}
	})

	t.Run("deleting with Delete removes the data and the IAM user", func(t *testing.T) {
		l := c.lake(t, "team-a", "team-a")
		c.update(t, l, func(l *lakev1.TelemetryLake) { l.Spec.DeletionPolicy = lakev1.DeletionDelete })
		if err := c.client.Delete(ctx, l); err != nil {
			t.Fatal(err)
		}
		c.waitGone(t, "team-a", "team-a")
		_, err := c.admin(t).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("tl-team-a-team-a")})
		if status := harness.HTTPStatus(err); status != 404 {
			t.Errorf("the bucket survived Delete: HeadBucket = %v", err)
		}
		if _, err := c.s3.IAMClient(t).GetUser(ctx, &iam.GetUserInput{UserName: aws.String("tl-team-a-team-a")}); err == nil {
			t.Error("the IAM user survived")
		}
	})

	t.Run("deleting with Retain keeps the data and revokes the user", func(t *testing.T) {
		admin := c.admin(t)
		if _, err := admin.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tl-team-b-team-b"), Key: aws.String("blocks/keep"), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
		if err := c.client.Delete(ctx, c.lake(t, "team-b", "team-b")); err != nil {
			t.Fatal(err)
		}
		c.waitGone(t, "team-b", "team-b")
		if _, err := admin.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("tl-team-b-team-b"), Key: aws.String("blocks/keep")}); err != nil {
			t.Errorf("Retain lost the data: %v", err)
		}
		if _, err := c.s3.IAMClient(t).GetUser(ctx, &iam.GetUserInput{UserName: aws.String("tl-team-b-team-b")}); err == nil {
			t.Error("the IAM user survived")
		}
	})
}

func (c *cluster) adminSecret(t *testing.T, name string) {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: operatorNamespace}, StringData: map[string]string{
		wellknown.SecretKeyAccessKeyID: c.s3.AccessKey, wellknown.SecretKeySecretAccessKey: c.s3.SecretKey,
	}}
	if err := c.client.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

func (c *cluster) storageClass(t *testing.T, name, endpoint, secret string, isDefault bool) {
	class := &lakev1.LakeStorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: lakev1.LakeStorageClassSpec{
			Provisioner:    lakev1.ProvisionerS3IAM,
			S3:             &lakev1.S3Settings{Endpoint: endpoint, Region: "us-east-1", PathStyle: true, AdminCredentialsSecretRef: lakev1.SecretReference{Name: secret}},
			DeletionPolicy: lakev1.DeletionRetain,
			RetentionDays:  ptr.To[int32](30),
		},
	}
	if isDefault {
		class.Annotations = map[string]string{wellknown.AnnotationDefaultClass: "true"}
	}
	if err := c.client.Create(context.Background(), class); err != nil {
		t.Fatal(err)
	}
}

func (c *cluster) admin(t *testing.T) *s3.Client {
	return c.s3.S3Client(t, c.s3.AccessKey, c.s3.SecretKey)
}

func (c *cluster) get(t *testing.T, ns, name string, obj client.Object) {
	t.Helper()
	if err := c.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatal(err)
	}
}

func (c *cluster) secret(t *testing.T, ns, name string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	c.get(t, ns, name, s)
	return s
}

func (c *cluster) deployment(t *testing.T, ns, name string) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{}
	c.get(t, ns, name, d)
	return d
}

// authFileHas says whether the ingester's token file lists a hash.
func (c *cluster) authFileHas(t *testing.T, ns, hash string) bool {
	t.Helper()
	var file tokenfile.File
	if err := yaml.Unmarshal(c.secret(t, ns, ns+"-ingester-auth").Data[wellknown.SecretKeyTokens], &file); err != nil {
		t.Fatal(err)
	}
	for _, e := range file.Tokens {
		if e.SHA256 == hash {
			return true
		}
	}
	return false
}

// rollOut plays the Deployment controller, which envtest does not run: it reports the current
// template as fully rolled out and available.
func (c *cluster) rollOut(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, 20*time.Second, "the Deployment's status to be written", func() (bool, string) {
		d := c.deployment(t, ns, name)
		want := ptr.Deref(d.Spec.Replicas, 1)
		d.Status = appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation, Replicas: want, UpdatedReplicas: want, ReadyReplicas: want, AvailableReplicas: want,
		}
		err := c.client.Status().Update(context.Background(), d)
		return err == nil, fmt.Sprint(err)
	})
}

func (c *cluster) update(t *testing.T, l *lakev1.TelemetryLake, change func(*lakev1.TelemetryLake)) {
	t.Helper()
	eventually(t, 10*time.Second, "the update", func() (bool, string) {
		fresh := c.lake(t, l.Namespace, l.Name)
		change(fresh)
		err := c.client.Update(context.Background(), fresh)
		return err == nil, fmt.Sprint(err)
	})
}

func (c *cluster) waitCondition(t *testing.T, ns, name, typ string, want metav1.ConditionStatus) {
	t.Helper()
	eventually(t, 60*time.Second, fmt.Sprintf("%s=%s on %s/%s", typ, want, ns, name), func() (bool, string) {
		l := c.lake(t, ns, name)
		cond := condition(l, typ)
		return cond.Status == want && cond.ObservedGeneration == l.Generation && l.Status.ObservedGeneration == l.Generation, describe(l)
	})
}

func (c *cluster) waitReason(t *testing.T, ns, name, typ, reason string) {
	t.Helper()
	eventually(t, 60*time.Second, fmt.Sprintf("%s reason %s on %s/%s", typ, reason, ns, name), func() (bool, string) {
		l := c.lake(t, ns, name)
		return condition(l, typ).Reason == reason, describe(l)
	})
	c.waitEvent(t, ns, name, reason)
}

func (c *cluster) waitEvent(t *testing.T, ns, name, reason string) {
	t.Helper()
	eventually(t, 20*time.Second, "an event "+reason+" for "+name, func() (bool, string) {
		var events corev1.EventList
		if err := c.client.List(context.Background(), &events, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		for _, e := range events.Items {
			if e.InvolvedObject.Name == name && e.Reason == reason {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events, none with reason %s", len(events.Items), reason)
	})
}

func (c *cluster) waitGone(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, 60*time.Second, ns+"/"+name+" to be deleted", func() (bool, string) {
		l := &lakev1.TelemetryLake{}
		err := c.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, l)
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		return false, describe(l)
	})
}

// desiredDeployment builds the Deployment from what the operator stored, as the controller does.
func (c *cluster) desiredDeployment(t *testing.T, l *lakev1.TelemetryLake, creds *corev1.Secret) *appsv1.Deployment {
	t.Helper()
	class := &lakev1.LakeStorageClass{}
	c.get(t, "", "seaweedfs", class)
	var tokens []builders.IssuedToken
	for _, spec := range l.Spec.Auth.Tokens {
		tokens = append(tokens, builders.ReadToken(spec, c.secret(t, l.Namespace, builders.NamesFor(l).TokenSecret(spec.Name)), time.Now()))
	}
	objs, err := builders.Build(builders.Inputs{
		Lake: l, Class: class, IngesterImage: "ghcr.io/telemetrylake/ingester:test",
		StorageURL:           builders.S3StorageURL(l.Status.Storage.Bucket, l.Status.Storage.Prefix, class.Spec.S3),
		Credentials:          &builders.StorageCredentials{AccessKeyID: string(creds.Data[wellknown.SecretKeyAccessKeyID]), SecretAccessKey: string(creds.Data[wellknown.SecretKeySecretAccessKey])},
		Tokens:               tokens,
		ServiceAccountIssuer: c.api.IssuerURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs.Apply {
		if d, ok := o.(*appsv1.Deployment); ok {
			return d
		}
	}
	t.Fatal("the builders made no Deployment")
	return nil
}
