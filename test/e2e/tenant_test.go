package e2e

import (
	"context"
	"os"
	"os/exec"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/test/harness"
	"github.com/telemetrylake/telemetrylake/test/tenant"
)

// tokenName is the token of the sample lakes that the test sends with (spec.auth.tokens[].name).
const tokenName = "claude"

func (s *stack) secret(t *testing.T, ctx context.Context, namespace, name string) *corev1.Secret {
	t.Helper()
	var sec corev1.Secret
	if err := s.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &sec); err != nil {
		t.Fatalf("the operator's Secret %s/%s: %v", namespace, name, err)
	}
	return &sec
}

// tenant reads what the operator created for lake, as test/tenant does for hack/demo.sh too.
func (s *stack) tenant(t *testing.T, ctx context.Context, lake *lakev1.TelemetryLake) *tenant.Tenant {
	t.Helper()
	tn, err := tenant.Get(ctx, s.client, types.NamespacedName{Namespace: lake.Namespace, Name: lake.Name})
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// storageCredentials are the lake's own storage keys, from its storage Secret.
func (s *stack) storageCredentials(t *testing.T, ctx context.Context, lake *lakev1.TelemetryLake) tenant.StorageCredentials {
	t.Helper()
	creds, err := s.tenant(t, ctx, lake).StorageCredentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

// clientEnv is the environment a pod gets from `envFrom` of the lake's token Secret, with the
// endpoint's host and port replaced by otlpAddr if it is not empty. Nothing of the test's own
// environment is in it but PATH and HOME.
func (s *stack) clientEnv(t *testing.T, ctx context.Context, lake *lakev1.TelemetryLake, otlpAddr string) []string {
	t.Helper()
	env, err := s.tenant(t, ctx, lake).TokenEnv(ctx, tokenName, otlpAddr)
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
}

// runClient runs cmd/democlient with env and returns its combined output and error.
func (s *stack) runClient(ctx context.Context, env []string) (string, error) {
	cmd := exec.CommandContext(ctx, s.bin.democlient)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// readBucket lists and decodes every block under the lake's bucket and prefix with the given
// credentials, as a reader of the lake would.
func (s *stack) readBucket(t *testing.T, ctx context.Context, lake *lakev1.TelemetryLake, creds tenant.StorageCredentials) *harness.Landed {
	t.Helper()
	st := lake.Status.Storage
	if st == nil || st.Bucket == "" {
		t.Fatalf("TelemetryLake %s/%s has no status.storage.bucket", lake.Namespace, lake.Name)
	}
	c := s.s3.SessionS3Client(t, creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
	return harness.ReadLanded(t, store.NewS3(c, st.Bucket, st.Prefix))
}
