package harness

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// KubeAPIServer is a real kube-apiserver with its own etcd, both started by controller-runtime's
// envtest from the binaries hack/tools.sh builds, listening only on 127.0.0.1.
//
// It is set up to be an OIDC issuer of service-account tokens, as a real cluster is:
//   - --service-account-issuer is its own https URL, IssuerURL (no trailing slash).
//   - --service-account-jwks-uri is set explicitly. Left unset, the apiserver derives jwks_uri from
//     its advertised address, which for a loopback bind is the host's first non-loopback IP: the
//     discovery document would send clients off this machine.
//   - The discovery document (/.well-known/openid-configuration) and the key set (/openid/v1/jwks)
//     are only served to callers that RBAC allows: by default the ClusterRoleBinding
//     system:service-account-issuer-discovery grants them to the group system:serviceaccounts, and
//     an anonymous request gets 403. A client therefore fetches them with a service-account
//     token, just as an in-cluster ingester uses its own projected token (see ReaderToken). In a
//     real cluster an admin may instead bind the role to system:unauthenticated.
//   - TokenRequest refuses expirationSeconds below 600 (a fixed minimum in the API validation,
//     not a flag), so a test cannot mint a token that expires within seconds.
type KubeAPIServer struct {
	// IssuerURL is https://127.0.0.1:PORT, the iss of every service-account token it mints.
	IssuerURL string
	// CAFile holds the PEM CA that signed the apiserver's serving certificate.
	CAFile string
	// Config is an admin client configuration.
	Config *rest.Config
	// Client is an admin clientset.
	Client kubernetes.Interface
}

// StartKubeAPIServer starts etcd and kube-apiserver (building them on first use, see Tool) and
// stops them when the test ends.
func StartKubeAPIServer(t testing.TB) *KubeAPIServer {
	t.Helper()
	apiserverBin := Tool(t, "kube-apiserver")
	etcdBin := Tool(t, "etcd")

	port := FreePorts(t, 1)[0]
	issuer := "https://127.0.0.1:" + strconv.Itoa(port)
	useExisting := false // never a developer's cluster, whatever USE_EXISTING_CLUSTER says
	env := &envtest.Environment{
		UseExistingCluster:       &useExisting,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	api := env.ControlPlane.GetAPIServer()
	api.Path = apiserverBin
	api.SecureServing.Address = "127.0.0.1"
	api.SecureServing.Port = strconv.Itoa(port)
	api.Configure().
		Set("service-account-issuer", issuer).
		Set("service-account-jwks-uri", issuer+"/openid/v1/jwks")
	env.ControlPlane.Etcd = &envtest.Etcd{Path: etcdBin}

	begin := time.Now()
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("harness: starting kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("harness: stopping kube-apiserver and etcd: %v", err)
		}
	})
	t.Logf("harness: kube-apiserver %s up after %v", issuer, time.Since(begin).Round(time.Millisecond))

	caFile := filepath.Join(t.TempDir(), "kube-ca.crt")
	if err := os.WriteFile(caFile, cfg.CAData, 0o600); err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &KubeAPIServer{IssuerURL: issuer, CAFile: caFile, Config: cfg, Client: client}
}

// CreateServiceAccount creates namespace (if needed) and a service account in it.
func (k *KubeAPIServer) CreateServiceAccount(t testing.TB, namespace, name string) {
	t.Helper()
	ctx := context.Background()
	_, err := k.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("harness: creating namespace %s: %v", namespace, err)
	}
	_, err = k.Client.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("harness: creating service account %s/%s: %v", namespace, name, err)
	}
}

// ServiceAccountToken mints a token for a service account with the TokenRequest API, as the
// kubelet does for a projected volume. No audiences means the apiserver's own (its issuer), which
// the apiserver itself accepts.
func (k *KubeAPIServer) ServiceAccountToken(t testing.TB, namespace, name string, expiration time.Duration, audiences ...string) string {
	t.Helper()
	seconds := int64(expiration.Seconds())
	tr, err := k.Client.CoreV1().ServiceAccounts(namespace).CreateToken(context.Background(), name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &seconds},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("harness: TokenRequest for %s/%s: %v", namespace, name, err)
	}
	return tr.Status.Token
}

// ReaderToken creates the service account kube-system/oidc-reader and writes a token for it (with
// the apiserver's own audience) to a file: what a client needs to fetch the discovery document and
// key set, since system:serviceaccounts may read them.
func (k *KubeAPIServer) ReaderToken(t testing.TB) (path string) {
	t.Helper()
	k.CreateServiceAccount(t, "kube-system", "oidc-reader")
	path = filepath.Join(t.TempDir(), "reader-token")
	if err := os.WriteFile(path, []byte(k.ServiceAccountToken(t, "kube-system", "oidc-reader", time.Hour)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
