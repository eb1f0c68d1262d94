package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers/builders"
)

// checkSessionLake onboards one more lake, of the sample AssumeRole class
// (config/samples/lake_v1alpha1_lakestorageclass_assumerole.yaml, pointed at SeaweedFS and at a
// role made as its comment says), and checks what the envtest cannot: that its ingester pod on the
// real node gets the STS session as a file the kubelet mounts, not as environment, and that the
// SDK's data lands with it, while no IAM user is made.
func (s *stack) checkSessionLake(t *testing.T, ctx context.Context, realNode string) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	users := s.s3.IAMUserCount(t)
	raw, err := os.ReadFile(filepath.Join(s.root, "config", "samples", "lake_v1alpha1_lakestorageclass_assumerole.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	class := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &class.Object); err != nil {
		t.Fatal(err)
	}
	role := s.s3.CreateTenantRole(t, "telemetrylake-tenants")
	for _, f := range []struct {
		value string
		path  []string
	}{{s.s3.Endpoint, []string{"spec", "s3", "endpoint"}}, {role, []string{"spec", "credentials", "roleARN"}}} {
		if err := unstructured.SetNestedField(class.Object, f.value, f.path...); err != nil {
			t.Fatal(err)
		}
	}
	s.create(t, ctx, class)

	lake := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": lakev1.GroupVersion.String(), "kind": "TelemetryLake",
		"metadata": map[string]any{"namespace": "team-c", "name": "team-c"},
		"spec": map[string]any{
			"storageClassName": class.GetName(),
			"ingester":         map[string]any{"replicas": int64(1)},
			"auth":             map[string]any{"tokens": []any{map[string]any{"name": tokenName}}},
		},
	}}
	for field, value := range s.placement {
		if err := unstructured.SetNestedField(lake.Object, value, "spec", "ingester", field); err != nil {
			t.Fatal(err)
		}
	}
	s.ensureNamespace(t, ctx, "team-c")
	s.create(t, ctx, lake)
	l := s.waitReady(t, ctx, types.NamespacedName{Namespace: "team-c", Name: "team-c"})
	s.checkIngesterPods(t, ctx, l, realNode)

	creds := s.storageCredentials(t, ctx, l)
	if creds.SessionToken == "" {
		t.Fatalf("the storage Secret of %s/%s holds no session token", l.Namespace, l.Name)
	}
	for _, pod := range s.lakePods(t, ctx, l, "ingester") {
		env := pod.Spec.Containers[0].Env
		if !slices.ContainsFunc(env, func(e corev1.EnvVar) bool { return e.Name == wellknown.EnvStorageCredentialsFile }) {
			t.Errorf("pod %s has no %s", pod.Name, wellknown.EnvStorageCredentialsFile)
		}
		if slices.ContainsFunc(env, func(e corev1.EnvVar) bool { return e.Name == wellknown.SecretKeySecretAccessKey }) {
			t.Errorf("pod %s gets %s as environment, which the kubelet never updates", pod.Name, wellknown.SecretKeySecretAccessKey)
		}
	}

	s.node(t, ctx, "hosts") // the new lake's Service too
	if out, err := s.runClient(ctx, s.clientEnv(t, ctx, l, "")); err != nil {
		t.Fatalf("democlient for %s/%s: %v\n%s", l.Namespace, l.Name, err, out)
	}
	checkLanded(t, l, s.readBucket(t, ctx, l, creds))
	if got := s.s3.IAMUserCount(t); got != users {
		t.Errorf("the store had %d IAM users before the lake and %d after", users, got)
	}
	t.Logf("%s/%s: pods on %s read the session of Secret %s from a mounted file; the SDK's data landed with it", l.Namespace, l.Name, realNode, builders.NamesFor(l).StorageSecret)
}
