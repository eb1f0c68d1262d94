package tenant

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers/builders"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// TestTenantReadsWhatTheOperatorCreatedAsThePodGetsIt creates, on a real kube-apiserver, a
// TelemetryLake and the children the operator would make for it, and reads them back as the
// ingester's pod and a client's pod get them.
func TestTenantReadsWhatTheOperatorCreatedAsThePodGetsIt(t *testing.T) {
	api := harness.StartKubeAPIServer(t)
	api.InstallCRDs(t)
	c := api.LakeClient(t)
	ctx := context.Background()
	create := func(obj client.Object) {
		t.Helper()
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
	}

	const ns = "team-a"
	create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	lake := &lakev1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "team-a"}}
	create(lake)
	names := builders.NamesFor(lake)
	secret := func(name string, data map[string]string) {
		create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data})
	}
	const storage = "s3://lake-team-a/tenants/team-a?endpoint=http%3A%2F%2F127.0.0.1%3A8333&region=us-east-1&path_style=true"
	config := `storage: "` + storage + `"
auth:
  tokenFile: /etc/telemetrylake/auth/tokens.yaml
`
	secret(names.ConfigSecret, map[string]string{wellknown.SecretKeyConfig: config})
	secret(names.AuthSecret, map[string]string{wellknown.SecretKeyTokens: "tokens: []\n"})
	secret(names.StorageSecret, map[string]string{wellknown.SecretKeyAccessKeyID: "AKTEAMA", wellknown.SecretKeySecretAccessKey: "secret-a"})
	secret(names.TokenSecret("claude"), map[string]string{
		wellknown.SecretKeyToken:        "tlk_a",
		wellknown.SecretKeyOTLPEndpoint: builders.Endpoint(lake),
		wellknown.SecretKeyOTLPHeaders:  "Authorization=Bearer tlk_a",
	})

	tn, err := Get(ctx, c, types.NamespacedName{Namespace: ns, Name: lake.Name})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the token Secret becomes the client's environment, its endpoint pointed elsewhere if asked", func(t *testing.T) {
		env, err := tn.TokenEnv(ctx, "claude", "127.0.0.1:4318")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318" + wellknown.OTLPBasePath,
			"OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer tlk_a",
			"token=tlk_a",
		}
		if !slices.Equal(env, want) {
			t.Errorf("env %q, want %q", env, want)
		}
		env, err = tn.TokenEnv(ctx, "claude", "")
		if err != nil || !slices.Contains(env, wellknown.SecretKeyOTLPEndpoint+"="+builders.Endpoint(lake)) {
			t.Errorf("without an address, env %q (%v), want the Secret's own endpoint", env, err)
		}
		if _, err := tn.TokenEnv(ctx, "nobody", ""); err == nil || !strings.Contains(err.Error(), names.TokenSecret("nobody")) {
			t.Errorf("a token without a Secret: %v, want an error that names the Secret", err)
		}
	})

	t.Run("the storage Secret gives the tenant's credentials, the config its store URL", func(t *testing.T) {
		creds, err := tn.StorageCredentials(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"AWS_ACCESS_KEY_ID=AKTEAMA", "AWS_SECRET_ACCESS_KEY=secret-a"}; !slices.Equal(creds.Env(), want) {
			t.Errorf("env %q, want %q", creds.Env(), want)
		}
		cfg, err := tn.IngesterConfig(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Storage != storage {
			t.Errorf("storage %q, want %q", cfg.Storage, storage)
		}
	})
}
