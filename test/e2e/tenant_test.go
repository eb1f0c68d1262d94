package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// ingester is a real ingester process standing in for a lake's simulated pods.
type ingester struct {
	lake      types.NamespacedName
	otlpAddr  string // host:port
	adminAddr string
	storage   string // the store URL of the rendered config
	proc      *process
}

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

// startIngester runs an ingester configured only from what the operator created for lake: the
// config Secret's config.yaml and the auth Secret's tokens.yaml (as the pod mounts them) and the
// storage Secret (as the pod's environment). Flags override only the in-pod listen addresses and
// token file path.
func (s *stack) startIngester(t *testing.T, ctx context.Context, lake *lakev1.TelemetryLake) *ingester {
	t.Helper()
	tn := s.tenant(t, ctx, lake)
	files, err := tn.WriteIngesterFiles(ctx, filepath.Join(s.dir, "tenants", lake.Namespace+"-"+lake.Name))
	if err != nil {
		t.Fatal(err)
	}
	creds := s.storageCredentials(t, ctx, lake)

	ports := harness.FreePorts(t, 2)
	ing := &ingester{
		lake:      types.NamespacedName{Namespace: lake.Namespace, Name: lake.Name},
		otlpAddr:  fmt.Sprintf("127.0.0.1:%d", ports[0]),
		adminAddr: fmt.Sprintf("127.0.0.1:%d", ports[1]),
		storage:   files.Parsed.Storage,
	}
	env := append(withoutAWS(os.Environ()), creds.Env()...)
	ing.proc = startProcess(t, ctx, "ingester "+lake.Namespace+"/"+lake.Name, filepath.Join(filepath.Dir(files.Config), "ingester.log"), env,
		s.bin.ingester, "--config", files.Config,
		"--listen", ing.otlpAddr, "--admin-listen", ing.adminAddr, "--token-file", files.Tokens)
	// /readyz: the store answers with the tenant's own credentials.
	waitHTTP(t, ctx, "http://"+ing.adminAddr+"/readyz", ing.proc)
	return ing
}

// clientEnv is the environment a pod gets from `envFrom` of the lake's token Secret, with the
// endpoint's host and port, a Service name that resolves only in the cluster, pointed at ing.
// Nothing of the test's own environment is in it but PATH and HOME.
func (s *stack) clientEnv(t *testing.T, ctx context.Context, lake *lakev1.TelemetryLake, ing *ingester) []string {
	t.Helper()
	env, err := s.tenant(t, ctx, lake).TokenEnv(ctx, tokenName, ing.otlpAddr)
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

// requestCounts reads telemetrylake_ingester_requests_total from the ingester's /metrics, keyed by
// "<signal> <code>".
func (ing *ingester) requestCounts(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + ing.adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	counts := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "telemetrylake_ingester_requests_total{")
		if !ok {
			continue
		}
		labels, value, _ := strings.Cut(line, "} ")
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", sc.Text(), err)
		}
		counts[label(labels, "signal")+" "+label(labels, "code")] += n
	}
	return counts
}

func label(labels, name string) string {
	for _, kv := range strings.Split(labels, ",") {
		if v, ok := strings.CutPrefix(kv, name+`="`); ok {
			return strings.TrimSuffix(v, `"`)
		}
	}
	return ""
}

// readBucket lists and decodes every block under the lake's bucket and prefix with the given
// credentials, as a reader of the lake would.
func (s *stack) readBucket(t *testing.T, ctx context.Context, lake *lakev1.TelemetryLake, creds tenant.StorageCredentials) *harness.Landed {
	t.Helper()
	st := lake.Status.Storage
	if st == nil || st.Bucket == "" {
		t.Fatalf("TelemetryLake %s/%s has no status.storage.bucket", lake.Namespace, lake.Name)
	}
	c := s.s3.S3Client(t, creds.AccessKeyID, creds.SecretAccessKey)
	return harness.ReadLanded(t, store.NewS3(c, st.Bucket, st.Prefix))
}

// withoutAWS drops AWS_* from env, so that only the tenant's credentials reach an ingester.
func withoutAWS(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "AWS_") {
			out = append(out, kv)
		}
	}
	return out
}
