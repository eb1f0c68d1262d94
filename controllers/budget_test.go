package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
)

// onboardingWritesPerLake is what onboarding one lake like make bench-operator's (one ingester
// replica, one token, a lakehouse CronJob, a shared-bucket class) may cost in API writes: its 8
// children applied once each (4 Secrets, ServiceAccount, Service, Deployment, CronJob), the
// finalizer, 2 status writes (storage and credentials done while the Deployment rolls out; then
// Ready) and one event with each. Before, this test counted 18.7 writes and 4.5 reads past the
// cache a lake; make bench-operator (300 lakes, where the Deployment controller reports more steps
// of the roll-out, each a status write) counted 24.4 writes and 6.0 reads a lake before, 14.4 and
// 0.5 after.
const onboardingWritesPerLake = 13

// TestOnboardingRequestBudget onboards a few lakes at once, rolls their Deployments out as the
// Deployment controller would, and counts the manager's requests to the API server until all are
// Ready and it is idle: the API server is what onboarding a thousand tenants waits on (README, the
// operator at a thousand tenants), so a change that costs a lake more requests fails here.
func TestOnboardingRequestBudget(t *testing.T) {
	const lakes = 6
	c := newCluster(t)
	c.mgr = c.startManager(t, managerConfig{})
	ctx := context.Background()
	c.adminSecret(t, "lake-admin")
	c.s3.CreateBucket(t, "budget-shared")
	class := &lakev1.LakeStorageClass{ObjectMeta: metav1.ObjectMeta{Name: "shared"}, Spec: lakev1.LakeStorageClassSpec{
		Provisioner: lakev1.ProvisionerS3Static,
		S3:          &lakev1.S3Settings{Endpoint: c.s3.Endpoint, Region: "us-east-1", PathStyle: true, AdminCredentialsSecretRef: lakev1.SecretReference{Name: "lake-admin"}},
		Bucket:      lakev1.BucketPlacement{Mode: lakev1.SharedBucket, SharedBucketName: "budget-shared"},
		// No retention: a shared bucket's lifecycle document is one per bucket (see the bench).
		RetentionDays: ptr.To[int32](0), DeletionPolicy: lakev1.DeletionRetain,
	}}
	if err := c.client.Create(ctx, class); err != nil {
		t.Fatal(err)
	}
	c.settle(t)
	before := c.mgr.requests.snapshot()

	for i := range lakes {
		ns := fmt.Sprintf("budget-%d", i)
		c.createNamespace(t, ns)
		lake := &lakev1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{Name: "lake", Namespace: ns}, Spec: lakev1.TelemetryLakeSpec{
			StorageClassName: "shared",
			Ingester:         lakev1.IngesterSpec{Replicas: ptr.To[int32](1)},
			Auth:             lakev1.AuthSpec{Tokens: []lakev1.TokenSpec{{Name: "claude"}}},
			Lakehouse:        lakev1.LakehouseSpec{Schedule: "0 0 1 1 *"},
		}}
		if err := c.client.Create(ctx, lake); err != nil {
			t.Fatal(err)
		}
	}
	for i := range lakes {
		ns := fmt.Sprintf("budget-%d", i)
		eventually(t, time.Minute, "the ingester Deployment of "+ns, func() (bool, string) {
			err := c.client.Get(ctx, keyIn(ns, "lake-ingester"), &appsv1.Deployment{})
			return err == nil, fmt.Sprint(err)
		})
		c.rollOut(t, ns, "lake-ingester")
	}
	for i := range lakes {
		c.waitCondition(t, fmt.Sprintf("budget-%d", i), "lake", lakev1.ConditionReady, metav1.ConditionTrue)
	}
	c.settle(t)
	spent := map[string]int{}
	for k, v := range c.mgr.requests.snapshot() {
		if d := v - before[k]; d != 0 {
			spent[k] = d
		}
	}
	var writes, pastCache int
	var parts []string
	for k, v := range spent {
		verb, _, _ := strings.Cut(k, " ")
		switch verb {
		case "post", "put", "patch", "delete":
			writes += v
		case "get":
			pastCache += v
		}
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(parts)
	t.Logf("onboarding %d lakes: %.1f writes and %.1f reads past the cache a lake (%s)", lakes,
		float64(writes)/lakes, float64(pastCache)/lakes, strings.Join(parts, ", "))
	if writes > onboardingWritesPerLake*lakes {
		t.Errorf("onboarding %d lakes made %d API writes, over the budget of %d a lake (%d)", lakes, writes, onboardingWritesPerLake, onboardingWritesPerLake*lakes)
	}
	// Reads past the cache happen only when the cache lags behind the operator's own last write
	// (ownWrites), which depends on timing: bounded, not zero.
	if pastCache > lakes {
		t.Errorf("onboarding %d lakes read %d objects past the cache, more than one a lake", lakes, pastCache)
	}
}

func keyIn(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }
