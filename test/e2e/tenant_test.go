package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers/builders"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// tokenName is the token of the sample lakes that the test sends with (spec.auth.tokens[].name).
const tokenName = "claude"

// serviceAccountDir is where a pod finds its service-account files, and where the ingester config
// of a lake with spec.auth.serviceAccounts says to read them.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

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

// startIngester runs an ingester configured only from what the operator created for lake: the
// config Secret's config.yaml and the auth Secret's tokens.yaml (as the pod mounts them) and the
// storage Secret (as the pod's environment). Flags override only the in-pod listen addresses and
// token file path.
func (s *stack) startIngester(t *testing.T, ctx context.Context, lake *lakev1.TelemetryLake) *ingester {
	t.Helper()
	names := builders.NamesFor(lake)
	dir := filepath.Join(s.dir, "tenants", lake.Namespace+"-"+lake.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	rawConfig := string(s.secret(t, ctx, lake.Namespace, names.ConfigSecret).Data[wellknown.SecretKeyConfig])
	tokens := s.secret(t, ctx, lake.Namespace, names.AuthSecret).Data[wellknown.SecretKeyTokens]
	storage := s.secret(t, ctx, lake.Namespace, names.StorageSecret)

	// spec.auth.serviceAccounts makes the config name the pod's own service-account files, which the
	// ingester reads at start and has no flag for: give it the files the pod would get, and point the
	// config at them.
	if strings.Contains(rawConfig, serviceAccountDir+"/") {
		local := filepath.Join(dir, "serviceaccount")
		s.writeServiceAccountFiles(t, ctx, lake, local)
		rawConfig = strings.ReplaceAll(rawConfig, serviceAccountDir+"/", local+"/")
	}
	configPath, tokensPath := filepath.Join(dir, "config.yaml"), filepath.Join(dir, "tokens.yaml")
	writeFile(t, configPath, []byte(rawConfig))
	writeFile(t, tokensPath, tokens)
	cfg, err := ingesterconfig.Load(configPath)
	if err != nil {
		t.Fatalf("the rendered config of %s/%s does not load: %v\n%s", lake.Namespace, lake.Name, err, rawConfig)
	}
	if cfg.Storage == "" {
		t.Fatalf("the rendered config of %s/%s names no storage:\n%s", lake.Namespace, lake.Name, rawConfig)
	}

	ports := harness.FreePorts(t, 2)
	ing := &ingester{
		lake:      types.NamespacedName{Namespace: lake.Namespace, Name: lake.Name},
		otlpAddr:  fmt.Sprintf("127.0.0.1:%d", ports[0]),
		adminAddr: fmt.Sprintf("127.0.0.1:%d", ports[1]),
		storage:   cfg.Storage,
	}
	env := append(withoutAWS(os.Environ()),
		wellknown.SecretKeyAccessKeyID+"="+string(storage.Data[wellknown.SecretKeyAccessKeyID]),
		wellknown.SecretKeySecretAccessKey+"="+string(storage.Data[wellknown.SecretKeySecretAccessKey]))
	ing.proc = startProcess(t, ctx, "ingester "+lake.Namespace+"/"+lake.Name, filepath.Join(dir, "ingester.log"), env,
		s.bin.ingester, "--config", configPath,
		"--listen", ing.otlpAddr, "--admin-listen", ing.adminAddr, "--token-file", tokensPath)
	// /readyz: the store answers with the tenant's own credentials.
	waitHTTP(t, ctx, "http://"+ing.adminAddr+"/readyz", ing.proc)
	return ing
}

// writeServiceAccountFiles writes what a pod of lake's ingester finds in its service-account
// directory: the namespace's kube-root-ca.crt and a token of the Deployment's ServiceAccount.
func (s *stack) writeServiceAccountFiles(t *testing.T, ctx context.Context, lake *lakev1.TelemetryLake, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// The controller manager publishes kube-root-ca.crt into every namespace soon after it appears.
	var cm corev1.ConfigMap
	for {
		err := s.client.Get(ctx, types.NamespacedName{Namespace: lake.Namespace, Name: "kube-root-ca.crt"}, &cm)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("ConfigMap kube-root-ca.crt of %s: %v", lake.Namespace, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	writeFile(t, filepath.Join(dir, "ca.crt"), []byte(cm.Data["ca.crt"]))
	sa := s.kubectl(t, ctx, "get", "deployment", builders.NamesFor(lake).Ingester, "-n", lake.Namespace,
		"-o", "jsonpath={.spec.template.spec.serviceAccountName}")
	token := s.kubectl(t, ctx, "create", "token", sa, "-n", lake.Namespace)
	writeFile(t, filepath.Join(dir, "token"), []byte(strings.TrimSpace(token)))
}

// clientEnv is the environment a pod gets from `envFrom` of the lake's token Secret, with the
// endpoint's host and port, a Service name that resolves only in the cluster, pointed at ing.
// Nothing of the test's own environment is in it but PATH and HOME.
func (s *stack) clientEnv(t *testing.T, ctx context.Context, lake *lakev1.TelemetryLake, ing *ingester) []string {
	t.Helper()
	sec := s.secret(t, ctx, lake.Namespace, builders.NamesFor(lake).TokenSecret(tokenName))
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for key, value := range sec.Data {
		v := string(value)
		if key == wellknown.SecretKeyOTLPEndpoint {
			u, err := url.Parse(v)
			if err != nil {
				t.Fatalf("%s of Secret %s: %v", key, sec.Name, err)
			}
			u.Host = ing.otlpAddr
			v = u.String()
		}
		env = append(env, key+"="+v)
	}
	return env
}

// runClient runs test/democlient with env and returns its combined output and error.
func (s *stack) runClient(ctx context.Context, env []string) (string, error) {
	cmd := exec.CommandContext(ctx, s.bin.democlient)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// requestCounts reads ingester_requests_total from the ingester's /metrics, keyed by
// "<route> <code>".
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
		line, ok := strings.CutPrefix(sc.Text(), "ingester_requests_total{")
		if !ok {
			continue
		}
		labels, value, _ := strings.Cut(line, "} ")
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", sc.Text(), err)
		}
		counts[label(labels, "route")+" "+label(labels, "code")] += n
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

// landed is what a tenant's bucket holds, decoded.
type landed struct {
	blocks     map[layout.Signal]int
	logBodies  map[string]bool
	spanNames  map[string]bool
	itemsTotal int64  // the democlient.items counter, cumulative: its largest point
	durations  uint64 // points of the democlient.duration histogram
}

// readBucket lists and decodes every block under the lake's bucket and prefix with the given
// credentials, as a reader of the lake would.
func (s *stack) readBucket(t *testing.T, ctx context.Context, lake *lakev1.TelemetryLake, accessKey, secretKey string) landed {
	t.Helper()
	st := lake.Status.Storage
	if st == nil || st.Bucket == "" {
		t.Fatalf("TelemetryLake %s/%s has no status.storage.bucket", lake.Namespace, lake.Name)
	}
	prefix := st.Prefix
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	c := s.s3.S3Client(t, accessKey, secretKey)
	got := landed{blocks: map[layout.Signal]int{}, logBodies: map[string]bool{}, spanNames: map[string]bool{}}
	pages := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(st.Bucket), Prefix: aws.String(prefix + layout.BlocksPrefix + "/")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatalf("listing s3://%s/%s: %v", st.Bucket, prefix, err)
		}
		for _, obj := range page.Contents {
			ref, ok := layout.ParseBlockKey(strings.TrimPrefix(aws.ToString(obj.Key), prefix))
			if !ok {
				continue
			}
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(st.Bucket), Key: obj.Key})
			if err != nil {
				t.Fatalf("reading %s: %v", aws.ToString(obj.Key), err)
			}
			data, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			got.blocks[ref.Signal]++
			got.decode(t, ref, data)
		}
	}
	return got
}

func (l *landed) decode(t *testing.T, ref layout.BlockRef, data []byte) {
	t.Helper()
	unmarshal := func(m proto.Message) {
		if err := proto.Unmarshal(data, m); err != nil {
			t.Fatalf("block %s: %v", ref.Key, err)
		}
	}
	switch ref.Signal {
	case layout.Logs:
		var req collogspb.ExportLogsServiceRequest
		unmarshal(&req)
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				for _, lr := range sl.LogRecords {
					l.logBodies[lr.GetBody().GetStringValue()] = true
				}
			}
		}
	case layout.Traces:
		var req coltracepb.ExportTraceServiceRequest
		unmarshal(&req)
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					l.spanNames[sp.Name] = true
				}
			}
		}
	case layout.Metrics:
		var req colmetricspb.ExportMetricsServiceRequest
		unmarshal(&req)
		for _, rm := range req.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					switch m.Name {
					case "democlient.items":
						for _, dp := range m.GetSum().GetDataPoints() {
							l.itemsTotal = max(l.itemsTotal, dp.GetAsInt())
						}
					case "democlient.duration":
						for _, dp := range m.GetHistogram().GetDataPoints() {
							l.durations = max(l.durations, dp.GetCount())
						}
					}
				}
			}
		}
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
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
