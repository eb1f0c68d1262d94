package harness

import (
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
)

// Scheme knows the built-in kinds and this repository's API (lake.telemetrylake.io).
func Scheme(t testing.TB) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := lakev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return scheme
}

// InstallCRDs installs this repository's CRDs (config/crd/bases) and waits until they are served.
func (k *KubeAPIServer) InstallCRDs(t testing.TB) {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := envtest.InstallCRDs(k.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join(root, "config", "crd", "bases")}, ErrorIfPathMissing: true,
	}); err != nil {
		t.Fatalf("harness: installing CRDs: %v", err)
	}
}

// LakeClient is an admin controller-runtime client that knows the kinds of Scheme.
func (k *KubeAPIServer) LakeClient(t testing.TB) client.Client {
	t.Helper()
	c, err := client.New(k.Config, client.Options{Scheme: Scheme(t)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
