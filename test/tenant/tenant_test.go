package tenant

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
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

	const ns, saName = "team-a", "team-a-ingester"
	api.CreateServiceAccount(t, ns, saName)
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
  kubernetes:
  - name: local
    issuerURL: https://kubernetes.default.svc.cluster.local
    audiences: [telemetrylake]
    caFile: ` + ServiceAccountDir + `/ca.crt
    tokenFile: ` + ServiceAccountDir + `/token
    serviceAccounts: [system:serviceaccount:team-a:app]
`
	secret(names.ConfigSecret, map[string]string{wellknown.SecretKeyConfig: config})
	secret(names.AuthSecret, map[string]string{wellknown.SecretKeyTokens: "tokens: []\n"})
	secret(names.StorageSecret, map[string]string{wellknown.SecretKeyAccessKeyID: "AKTEAMA", wellknown.SecretKeySecretAccessKey: "secret-a"})
	secret(names.TokenSecret("claude"), map[string]string{
		wellknown.SecretKeyToken:        "tlk_a",
		wellknown.SecretKeyOTLPEndpoint: builders.Endpoint(lake),
		wellknown.SecretKeyOTLPHeaders:  "Authorization=Bearer tlk_a",
	})
	create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kube-root-ca.crt"}, Data: map[string]string{"ca.crt": "PEM"}})
	labels := map[string]string{wellknown.LabelInstance: lake.Name}
	create(&appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: names.Ingester},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{ServiceAccountName: saName, Containers: []corev1.Container{{Name: "ingester", Image: "ingester"}}},
			},
		},
	})

	tn, err := Get(ctx, c, types.NamespacedName{Namespace: ns, Name: lake.Name})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the token Secret becomes the client's environment, its endpoint pointed at a local ingester", func(t *testing.T) {
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

	t.Run("the ingester's files are written as mounted, with the service-account files beside them", func(t *testing.T) {
		dir := t.TempDir()
		files, err := tn.WriteIngesterFiles(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		sa := filepath.Join(dir, "serviceaccount")
		if files.ServiceAccount != sa || files.ServiceAccountName != saName {
			t.Errorf("service account files in %q of %q, want %q of %q", files.ServiceAccount, files.ServiceAccountName, sa, saName)
		}
		k := files.Parsed.Auth.Kubernetes[0]
		if k.CAFile != sa+"/ca.crt" || k.TokenFile != sa+"/token" || files.Parsed.Auth.TokenFile != wellknown.TokenFile {
			t.Errorf("the written config names %q, %q and %q", k.CAFile, k.TokenFile, files.Parsed.Auth.TokenFile)
		}
		for path, want := range map[string]string{files.Tokens: "tokens: []\n", sa + "/ca.crt": "PEM"} {
			if got, err := os.ReadFile(path); err != nil || string(got) != want {
				t.Errorf("%s holds %q (%v), want %q", path, got, err, want)
			}
		}
		if token, err := os.ReadFile(sa + "/token"); err != nil || strings.Count(string(token), ".") != 2 {
			t.Errorf("%s/token holds %q (%v), want a JWT", sa, token, err)
		}
	})
}
