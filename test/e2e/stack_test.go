package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// The operator's namespace and the admin Secret that the sample LakeStorageClass names.
const (
	operatorNamespace = "telemetrylake-system"
	adminSecret       = "lake-admin"
)

// stack is everything the test runs: the local cluster with its real node, SeaweedFS, the
// operator, and the binaries built from this repository.
type stack struct {
	root       string
	dir        string   // the test's scratch directory
	clusterEnv []string // CLUSTER_NAME and CLUSTER_DIR, for hack/cluster.sh and hack/node.sh
	kubectlBin string
	kubeconfig string
	client     client.WithWatch
	s3         *harness.SeaweedFS
	bin        binaries
	operator   *process
	// placement is what hack/node.sh placement says to put into a lake's spec.ingester.
	placement map[string]any
}

type binaries struct{ manager, democlient string }

// startStack brings up the cluster, SeaweedFS, the CRDs and the operator, each torn down by a
// cleanup in the reverse order.
func startStack(t *testing.T, ctx context.Context) *stack {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		t.Fatal("the e2e test runs the tenants' pods on a real node (hack/node.sh: containerd, runc, a bridge, iptables), which needs root")
	}
	s := &stack{root: root, dir: t.TempDir()}

	begin := time.Now()
	s.bin = buildBinaries(t, ctx, root, filepath.Join(s.dir, "bin"))
	t.Logf("built bin/manager and bin/democlient in %v", since(begin))

	begin = time.Now()
	s.startCluster(t, ctx)
	s.kubectlBin = harness.Tool(t, "kubectl")
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if s.client, err = client.NewWithWatch(cfg, client.Options{Scheme: harness.Scheme(t)}); err != nil {
		t.Fatal(err)
	}
	t.Logf("local cluster with a real node up in %v (KUBECONFIG=%s)", since(begin), s.kubeconfig)

	// On the host's address on the node's bridge: the operator here and the pods there both
	// reach it.
	begin = time.Now()
	s.s3 = harness.StartSeaweedFSOn(t, strings.TrimSpace(s.node(t, ctx, "host-ip")))
	t.Logf("SeaweedFS with IAM at %s in %v", s.s3.Endpoint, since(begin))

	s.kubectl(t, ctx, "apply", "--server-side", "--field-manager=telemetrylake-e2e", "-k", filepath.Join(root, "config", "crd"))
	s.waitEstablished(t, ctx, "telemetrylakes.lake.telemetrylake.io", "lakestorageclasses.lake.telemetrylake.io")

	ports := harness.FreePorts(t, 2)
	s.operator = startProcess(t, ctx, "operator", filepath.Join(s.dir, "operator.log"),
		append(os.Environ(), "KUBECONFIG="+s.kubeconfig),
		s.bin.manager,
		"--operator-namespace", operatorNamespace,
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[1]))
	waitHTTP(t, ctx, fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[1]), s.operator)
	t.Logf("operator running (log: %s)", s.operator.logPath)
	return s
}

// buildBinaries builds the operator and the SDK client into dir: the test runs what is in the
// working tree, never a stale bin/. (The real node builds the ingester and lakehouse images from
// the working tree too: hack/node.sh up.)
func buildBinaries(t *testing.T, ctx context.Context, root, dir string) binaries {
	t.Helper()
	b := binaries{
		manager:    filepath.Join(dir, "manager"),
		democlient: filepath.Join(dir, "democlient"),
	}
	for out, pkg := range map[string]string{b.manager: "./cmd/manager", b.democlient: "./cmd/democlient"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return b
}

// startCluster runs `hack/cluster.sh up` with a real node for a cluster of the test's own, in the
// test's directory, and registers `hack/cluster.sh down`, which also removes the node.
func (s *stack) startCluster(t *testing.T, ctx context.Context) {
	t.Helper()
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	// The cluster's name also names the node's bridge and pod subnet: a random one keeps a
	// test's cluster apart from the demo's and from another run's leftovers.
	// A short directory rather than t.TempDir(), which is named after the test: the kubelet
	// makes Unix sockets under it, whose paths may not exceed 107 bytes.
	dir, err := os.MkdirTemp("", "tl-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s.clusterEnv = []string{"CLUSTER_NAME=tl-e2e-" + hex.EncodeToString(suffix), "CLUSTER_DIR=" + filepath.Join(dir, "cluster"), "CLUSTER_REAL_NODE=1"}
	// Registered first, so that it runs last and also removes a cluster that came up half-way.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := s.script(ctx, "cluster.sh", "down"); err != nil {
			t.Errorf("tearing down the cluster: %v", err)
		}
		// What make demo-down promises too: no process, mount, bridge, network namespace,
		// socket or /etc/hosts line of the node is left.
		if out, err := s.script(ctx, "node.sh", "leftovers"); err != nil {
			t.Errorf("after hack/cluster.sh down, the real node left behind:\n%s\n(%v)", out, err)
		}
	})
	kubeconfig, err := s.script(ctx, "cluster.sh", "up")
	if err != nil {
		t.Fatal(err)
	}
	s.kubeconfig = kubeconfig
}

// script runs hack/NAME ARGS... for the test's cluster and returns its trimmed stdout, also when
// it fails.
func (s *stack) script(ctx context.Context, name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(s.root, "hack", name)}, args...)...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = s.root, &stdout, &stderr
	cmd.Env = append(os.Environ(), s.clusterEnv...)
	// A first run builds the cluster's binaries (minutes): with -v, show the progress live.
	if testing.Verbose() {
		cmd.Stderr = io.MultiWriter(&stderr, os.Stderr)
	}
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(stdout.String()), fmt.Errorf("hack/%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

func (s *stack) kubectl(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, s.kubectlBin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.kubeconfig)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// waitEstablished waits until the API server serves each CRD. (`kubectl wait
// --for=condition=Established` is no help: it fails, rather than waits, while a new CRD has no
// conditions yet.)
func (s *stack) waitEstablished(t *testing.T, ctx context.Context, crds ...string) {
	t.Helper()
	for _, name := range crds {
		for {
			crd := &unstructured.Unstructured{}
			crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
			err := s.client.Get(ctx, types.NamespacedName{Name: name}, crd)
			if err == nil && conditionTrue(crd, "Established") {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("CRD %s is not Established (get: %v)", name, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// conditionTrue says whether obj has status.conditions[type=typ] with status True.
func conditionTrue(obj *unstructured.Unstructured, typ string) bool {
	conditions, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conditions {
		if m, ok := c.(map[string]any); ok && m["type"] == typ && m["status"] == "True" {
			return true
		}
	}
	return false
}

// applySamples creates the admin Secret with SeaweedFS's keys and everything in config/samples/,
// with the LakeStorageClass pointed at SeaweedFS and each lake's spec.ingester given the real
// node's nodeSelector and tolerations (hack/node.sh placement), and returns the sample
// TelemetryLakes and the real node's labels that the nodeSelector names.
func (s *stack) applySamples(t *testing.T, ctx context.Context) (lakes []types.NamespacedName, nodeSelector map[string]string) {
	t.Helper()
	s.ensureNamespace(t, ctx, operatorNamespace)
	s.create(t, ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: adminSecret, Namespace: operatorNamespace},
		StringData: map[string]string{
			wellknown.SecretKeyAccessKeyID:     s.s3.AccessKey,
			wellknown.SecretKeySecretAccessKey: s.s3.SecretKey,
		},
	})

	raw := s.node(t, ctx, "placement")
	var placement map[string]any
	var selector struct{ NodeSelector map[string]string }
	if err := json.Unmarshal([]byte(raw), &placement); err != nil {
		t.Fatalf("hack/node.sh placement: %v", err)
	}
	if err := json.Unmarshal([]byte(raw), &selector); err != nil || len(selector.NodeSelector) == 0 {
		t.Fatalf("hack/node.sh placement %s: no nodeSelector (%v)", raw, err)
	}
	s.placement = placement
	rendered := s.kubectl(t, ctx, "kustomize", filepath.Join(s.root, "config", "samples"))
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(rendered), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("config/samples: %v", err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		switch obj.GroupVersionKind() {
		case lakeStorageClassGVK:
			if err := unstructured.SetNestedField(obj.Object, s.s3.Endpoint, "spec", "s3", "endpoint"); err != nil {
				t.Fatal(err)
			}
		case telemetryLakeGVK:
			for field, value := range placement {
				if err := unstructured.SetNestedField(obj.Object, value, "spec", "ingester", field); err != nil {
					t.Fatal(err)
				}
			}
			lakes = append(lakes, types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()})
		}
		if ns := obj.GetNamespace(); ns != "" {
			s.ensureNamespace(t, ctx, ns)
		}
		s.create(t, ctx, obj)
	}
	if len(lakes) < 2 {
		t.Fatalf("config/samples has %d TelemetryLakes; the test needs two tenants", len(lakes))
	}
	return lakes, selector.NodeSelector
}

var (
	lakeStorageClassGVK = lakev1.GroupVersion.WithKind("LakeStorageClass")
	telemetryLakeGVK    = lakev1.GroupVersion.WithKind("TelemetryLake")
)

func (s *stack) ensureNamespace(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	err := s.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

func (s *stack) create(t *testing.T, ctx context.Context, obj client.Object) {
	t.Helper()
	if err := s.client.Create(ctx, obj); err != nil {
		gvk := obj.GetObjectKind().GroupVersionKind()
		if gvk == (schema.GroupVersionKind{}) {
			gvk.Kind = fmt.Sprintf("%T", obj)
		}
		t.Fatalf("creating %s %s/%s: %v", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
	}
}

// process is a child process of the test, with its output in a log file. It dies with the test
// process, even if that is killed.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error
}

// startProcess starts bin with args and env, and registers a cleanup that stops it (SIGTERM, then
// SIGKILL after 20 s) and, if the test failed, shows the end of its log.
func startProcess(t *testing.T, ctx context.Context, name, logPath string, env []string, bin string, args ...string) *process {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child has its own copy
	p := &process{name: name, logPath: logPath, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = env, logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that started the child exits: keep this goroutine on
		// its thread for as long as the child runs.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := p.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("--- end of the %s log (%s) ---\n%s", name, logPath, p.logTail())
		}
	})
	return p
}

func (p *process) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Logf("%s did not stop within 20 s of SIGTERM; killing it", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *process) signal(sig os.Signal) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(sig)
	}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) logTail() string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	const max = 6 << 10
	if len(data) > max {
		data = data[len(data)-max:]
	}
	return string(data)
}

// waitHTTP waits until url answers 200, failing early if p exits.
func waitHTTP(t *testing.T, ctx context.Context, url string, p *process) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	var last string
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if p.exited() {
			t.Fatalf("%s exited (%v) before %s answered\n%s", p.name, p.waitErr, url, p.logTail())
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %s did not answer 200 (last: %s)\n%s", p.name, url, last, p.logTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }
