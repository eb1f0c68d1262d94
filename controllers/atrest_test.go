package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// TestNoStoreCallsAtRest provisions a few lakes, then checks, by counting the manager's requests
// to the API server and its calls of the real provisioner, that what changes nothing costs
// nothing: a reconcile with no change, a CronJob's run, a restart of the manager. And that what
// does change something still reaches the store: a changed spec, a deleted storage Secret,
// rotated admin credentials.
func TestNoStoreCallsAtRest(t *testing.T) {
	const lakes = 3
	c := newCluster(t)
	c.mgr = c.startManager(t, managerConfig{})
	ctx := context.Background()
	c.adminSecret(t, "lake-admin")
	c.storageClass(t, "seaweedfs", c.s3.Endpoint, "lake-admin", true)
	for i := range lakes {
		ns := fmt.Sprintf("rest-%d", i)
		c.createNamespace(t, ns)
		lake := &lakev1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{Name: "lake", Namespace: ns},
			Spec: lakev1.TelemetryLakeSpec{Auth: lakev1.AuthSpec{Tokens: []lakev1.TokenSpec{{Name: "app"}}}}}
		// The last lake has a query server, whose read-only key has a provisioning record of its
		// own: at rest and after a restart, that record too must spare the store.
		lake.Spec.Query.Enabled = i == lakes-1
		if err := c.client.Create(ctx, lake); err != nil {
			t.Fatal(err)
		}
	}
	for i := range lakes {
		ns := fmt.Sprintf("rest-%d", i)
		c.waitCondition(t, ns, "lake", lakev1.ConditionCredentialsReady, metav1.ConditionTrue)
		c.rollOut(t, ns, "lake-ingester")
		if i == lakes-1 {
			c.waitCondition(t, ns, "lake", lakev1.ConditionIngesterAvailable, metav1.ConditionTrue)
			c.rollOut(t, ns, "lake-query")
		}
		c.waitCondition(t, ns, "lake", lakev1.ConditionReady, metav1.ConditionTrue)
	}
	if c.mgr.storeCalls.Load() == 0 {
		t.Fatal("the store-call counter saw none of the provisioning: it counts nothing")
	}

	t.Run("a reconcile that changes nothing calls no store", func(t *testing.T) {
		c.checkQuietReconcile(t, "rest-0", "lake")
	})

	t.Run("a CronJob run reconciles nothing and calls no store", func(t *testing.T) {
		m := c.settle(t)
		calls := m.storeCalls.Load()
		reconciles := reconcilesDone(t)
		for i := range lakes {
			cj := &batchv1.CronJob{}
			c.get(t, fmt.Sprintf("rest-%d", i), "lake-lakehouse", cj)
			// What the CronJob controller writes at a tick: the job it started, then its success.
			now := metav1.Now()
			cj.Status = batchv1.CronJobStatus{LastScheduleTime: &now,
				Active: []corev1.ObjectReference{{Kind: "Job", Namespace: cj.Namespace, Name: "lake-lakehouse-1"}}}
			if err := c.client.Status().Update(ctx, cj); err != nil {
				t.Fatal(err)
			}
			cj.Status = batchv1.CronJobStatus{LastScheduleTime: &now, LastSuccessfulTime: &now}
			if err := c.client.Status().Update(ctx, cj); err != nil {
				t.Fatal(err)
			}
		}
		// The poke is a marker: once its reconcile is done, the CronJob events sent before it
		// have long been through the watch.
		time.Sleep(2 * time.Second)
		c.poke(t, "rest-1", "lake")
		eventually(t, 20*time.Second, "the poked lake to be reconciled", func() (bool, string) {
			n := reconcilesDone(t)
			return n > reconciles, fmt.Sprintf("%v reconciles", n)
		})
		time.Sleep(time.Second)
		if got := reconcilesDone(t) - reconciles; got != 1 {
			t.Errorf("%v reconciles after %d CronJob runs and one poke, want only the poke's", got, 2*lakes)
		}
		if got := m.storeCalls.Load() - calls; got != 0 {
			t.Errorf("CronJob runs made %d store calls", got)
		}
	})

	t.Run("a restarted manager makes no writes and no store calls", func(t *testing.T) {
		c.checkQuietRestart(t, lakes)
	})

	t.Run("a changed spec re-provisions", func(t *testing.T) {
		calls := c.mgr.storeCalls.Load()
		c.update(t, c.lake(t, "rest-0", "lake"), func(l *lakev1.TelemetryLake) { l.Spec.RetentionDays = ptr.To[int32](7) })
		eventually(t, 20*time.Second, "the bucket's retention rule to say 7 days", func() (bool, string) {
			out, err := c.admin(t).GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("tl-rest-0-lake")})
			if err != nil {
				return false, err.Error()
			}
			for _, r := range out.Rules {
				if r.Expiration != nil && aws.ToInt32(r.Expiration.Days) == 7 {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d rules, none of 7 days", len(out.Rules))
		})
		if c.mgr.storeCalls.Load() == calls {
			t.Error("the retention changed with no store call counted")
		}
	})

	t.Run("a deleted storage Secret gets a fresh key, and the old one stops working", func(t *testing.T) {
		old := c.secret(t, "rest-1", "lake-storage")
		oldKey := string(old.Data[wellknown.SecretKeyAccessKeyID])
		if err := c.client.Delete(ctx, old); err != nil {
			t.Fatal(err)
		}
		var fresh *corev1.Secret
		eventually(t, 20*time.Second, "a new storage Secret with another key", func() (bool, string) {
			fresh = &corev1.Secret{}
			err := c.client.Get(ctx, client.ObjectKey{Namespace: "rest-1", Name: "lake-storage"}, fresh)
			if err != nil {
				return false, err.Error()
			}
			return string(fresh.Data[wellknown.SecretKeyAccessKeyID]) != oldKey, "the same key " + oldKey
		})
		own := c.s3.S3Client(t, string(fresh.Data[wellknown.SecretKeyAccessKeyID]), string(fresh.Data[wellknown.SecretKeySecretAccessKey]))
		if _, err := own.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tl-rest-1-lake"), Key: aws.String("probe"), Body: strings.NewReader("x")}); err != nil {
			t.Errorf("the fresh key cannot write the tenant's bucket: %v", err)
		}
		stale := c.s3.S3Client(t, oldKey, string(old.Data[wellknown.SecretKeySecretAccessKey]))
		eventually(t, 20*time.Second, "the old key to be refused", func() (bool, string) {
			_, err := stale.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tl-rest-1-lake"), Key: aws.String("probe"), Body: strings.NewReader("x")})
			return harness.HTTPStatus(err) == 403, fmt.Sprint(err)
		})
	})

	t.Run("a deleted read-only key's Secret gets a fresh read-only key, and the old one stops working", func(t *testing.T) {
		ns := fmt.Sprintf("rest-%d", lakes-1)
		bucket := "tl-" + ns + "-lake"
		old := c.secret(t, ns, "lake-query-storage")
		oldKey := string(old.Data[wellknown.SecretKeyAccessKeyID])
		if err := c.client.Delete(ctx, old); err != nil {
			t.Fatal(err)
		}
		var fresh *corev1.Secret
		eventually(t, 20*time.Second, "a new read-only key's Secret with another key", func() (bool, string) {
			fresh = &corev1.Secret{}
			if err := c.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "lake-query-storage"}, fresh); err != nil {
				return false, err.Error()
			}
			return string(fresh.Data[wellknown.SecretKeyAccessKeyID]) != oldKey, "the same key " + oldKey
		})
		key := c.s3.S3Client(t, string(fresh.Data[wellknown.SecretKeyAccessKeyID]), string(fresh.Data[wellknown.SecretKeySecretAccessKey]))
		if _, err := key.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}); err != nil {
			t.Errorf("the fresh read-only key cannot list the tenant's bucket: %v", err)
		}
		_, err := key.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("probe"), Body: strings.NewReader("x")})
		if harness.HTTPStatus(err) != 403 {
			t.Errorf("the fresh read-only key writing: %v, want 403", err)
		}
		stale := c.s3.S3Client(t, oldKey, string(old.Data[wellknown.SecretKeySecretAccessKey]))
		eventually(t, 20*time.Second, "the old read-only key to be refused", func() (bool, string) {
			_, err := stale.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
			return harness.HTTPStatus(err) == 403, fmt.Sprint(err)
		})
	})

	t.Run("rotated admin credentials re-provision every lake of the class", func(t *testing.T) {
		before := map[string]string{}
		for i := range lakes {
			ns := fmt.Sprintf("rest-%d", i)
			before[ns] = c.secret(t, ns, "lake-storage").Annotations[wellknown.AnnotationStorageProvisioned]
		}
		calls := c.mgr.storeCalls.Load()
		// The same key saved again is a new version of the Secret, as a rotation by a tool that
		// rewrites it would be.
		admin := c.secret(t, operatorNamespace, "lake-admin")
		metav1.SetMetaDataAnnotation(&admin.ObjectMeta, "test.telemetrylake.io/rotated", "1")
		if err := c.client.Update(ctx, admin); err != nil {
			t.Fatal(err)
		}
		for ns, hash := range before {
			eventually(t, 20*time.Second, "a new provisioning record in "+ns, func() (bool, string) {
				got := c.secret(t, ns, "lake-storage").Annotations[wellknown.AnnotationStorageProvisioned]
				return got != hash, got
			})
		}
		if got := c.mgr.storeCalls.Load() - calls; got < 2*lakes {
			t.Errorf("%d store calls for %d lakes after the admin Secret changed, want EnsureStorage and EnsureCredentials for each", got, lakes)
		}
	})

	t.Run("the periodic check calls the store though nothing changed", func(t *testing.T) {
		c.settle(t)
		c.mgr.stop()
		c.mgr = c.startManager(t, managerConfig{storeCheckInterval: time.Second})
		eventually(t, 30*time.Second, "a store call for every lake", func() (bool, string) {
			n := c.mgr.storeCalls.Load()
			return n >= 2*lakes, fmt.Sprintf("%d store calls", n)
		})
	})
}

// settle waits until the manager has been idle for a while: no store call and no write in 2 s.
// checkQuietReconcile pokes the lake and checks that its reconcile, which has nothing to change,
// makes no store call and no API write.
func (c *cluster) checkQuietReconcile(t *testing.T, ns, name string) {
	t.Helper()
	m := c.settle(t)
	calls, writes := m.storeCalls.Load(), m.writes.Load()
	reconciles := reconcilesDone(t)
	c.poke(t, ns, name)
	eventually(t, 20*time.Second, "the poked lake to be reconciled", func() (bool, string) {
		n := reconcilesDone(t)
		return n > reconciles, fmt.Sprintf("%v reconciles", n)
	})
	time.Sleep(time.Second)
	if got := m.storeCalls.Load() - calls; got != 0 {
		t.Errorf("a reconcile with nothing to change made %d store calls", got)
	}
	if got := m.writes.Load() - writes; got != 0 {
		t.Errorf("a reconcile with nothing to change made %d API writes", got)
	}
}

// checkQuietRestart replaces the manager with a new one and checks that it reconciles all the
// cluster's lakes (there are lakes of them) with no API write and no store call.
func (c *cluster) checkQuietRestart(t *testing.T, lakes int) {
	t.Helper()
	c.settle(t)
	c.mgr.stop()
	before := reconcilesDone(t)
	c.mgr = c.startManager(t, managerConfig{})
	eventually(t, 30*time.Second, "the new manager to reconcile every lake", func() (bool, string) {
		n := reconcilesDone(t) - before
		return n >= float64(lakes), fmt.Sprintf("%v reconciles", n)
	})
	c.settle(t)
	if got := c.mgr.writes.Load(); got != 0 {
		t.Errorf("the restarted manager made %d API writes", got)
	}
	if got := c.mgr.storeCalls.Load(); got != 0 {
		t.Errorf("the restarted manager made %d store calls", got)
	}
}

func (c *cluster) settle(t *testing.T) *manager {
	t.Helper()
	m := c.mgr
	last := m.storeCalls.Load() + m.writes.Load()
	quiet := 0
	eventually(t, 30*time.Second, "the manager to settle", func() (bool, string) {
		now := m.storeCalls.Load() + m.writes.Load()
		if now == last {
			quiet++
		} else {
			quiet, last = 0, now
		}
		return quiet >= 20, fmt.Sprintf("%d requests", now)
	})
	return m
}

// poke wakes a lake's reconcile with nothing to change: an annotation the operator does not read,
// set by the test's own client.
func (c *cluster) poke(t *testing.T, ns, name string) {
	t.Helper()
	l := c.lake(t, ns, name)
	patch := client.MergeFrom(l.DeepCopy())
	metav1.SetMetaDataAnnotation(&l.ObjectMeta, "test.telemetrylake.io/poke", time.Now().Format(time.RFC3339Nano))
	if err := c.client.Patch(context.Background(), l, patch); err != nil {
		t.Fatal(err)
	}
}

// reconcilesDone is controller-runtime's count of finished TelemetryLake reconciles, of every
// manager this process ran.
func reconcilesDone(t *testing.T) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == "telemetrylake" {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}
