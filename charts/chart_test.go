// Package charts tests the Helm chart in telemetrylake-operator/. Its CRDs and RBAC rules are
// copies of the files generated under config/, and a test keeps them equal. Where a helm binary
// is available, the chart must also lint, render what the manager expects, refuse bad values, and
// install on a real kube-apiserver under the "restricted" Pod Security Standard.
//
// Nothing here ships; the package holds tests only.
package charts

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/telemetrylake/telemetrylake/test/harness"
)

var update = flag.Bool("update", false, "copy the generated CRDs and RBAC from config/ into the chart")

const chartDir = "telemetrylake-operator"

// copies are the chart's files that must stay byte-for-byte equal to a generated file under
// config/. The CRD directory is compared whole, so that a new CRD is not forgotten.
func copies(t *testing.T) map[string]string {
	t.Helper()
	pairs := map[string]string{
		filepath.Join(chartDir, "files", "rbac", "role.yaml"):                 filepath.Join("..", "config", "rbac", "role.yaml"),
		filepath.Join(chartDir, "files", "rbac", "leader_election_role.yaml"): filepath.Join("..", "config", "rbac", "leader_election_role.yaml"),
	}
	generated, err := filepath.Glob(filepath.Join("..", "config", "crd", "bases", "*.yaml"))
	if err != nil || len(generated) == 0 {
		t.Fatalf("no generated CRDs in config/crd/bases (%v)", err)
	}
	for _, src := range generated {
		pairs[filepath.Join(chartDir, "crds", filepath.Base(src))] = src
	}
	return pairs
}

func TestChartCopiesOfGeneratedFilesAreCurrent(t *testing.T) {
	pairs := copies(t)
	for dst, src := range pairs {
		want := harness.ReadFile(t, src)
		if *update {
			if err := os.WriteFile(dst, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(dst)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not a copy of %s: run `go test ./charts -run Copies -update` after `make manifests`", dst, src)
		}
	}
	shipped, _ := filepath.Glob(filepath.Join(chartDir, "crds", "*"))
	for _, f := range shipped {
		if _, ok := pairs[f]; !ok {
			t.Errorf("%s is not generated in config/crd/bases: remove it from the chart", f)
		}
	}
}

func TestHelmLintIsClean(t *testing.T) {
	helm := helmBinary(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"with the default values", nil},
		{"with every optional object on", []string{"-f", filepath.Join("testdata", "values-everything-on.yaml")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(helm, append([]string{"lint", "--strict", chartDir}, tc.args...)...)
			if err != nil || strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ERROR]") {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
		})
	}
}

// TestHelmTemplateRendersWhatTheManagerExpects checks the rendered objects against the sources
// they must agree with: the generated RBAC, the manager's flags, and the restricted profile.
func TestHelmTemplateRendersWhatTheManagerExpects(t *testing.T) {
	objs := render(t, helmBinary(t), "telemetrylake-operator", "telemetrylake-system")

	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
	}
	slices.Sort(kinds)
	wantKinds := []string{"ClusterRole", "ClusterRoleBinding", "Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"}
	if !slices.Equal(kinds, wantKinds) {
		t.Errorf("the default values render %v, want %v", kinds, wantKinds)
	}

	t.Run("the ClusterRole has exactly the rules of config/rbac/role.yaml", func(t *testing.T) {
		var role rbacv1.ClusterRole
		fromUnstructured(t, find(t, objs, "ClusterRole", "telemetrylake-operator"), &role)
		if want := rulesOf(t, filepath.Join("..", "config", "rbac", "role.yaml")); !equality.Semantic.DeepEqual(role.Rules, want) {
			t.Errorf("rules differ:\n got %v\nwant %v", role.Rules, want)
		}
	})
	t.Run("the leader-election Role has exactly the rules of config/rbac and lives in the release namespace", func(t *testing.T) {
		var role rbacv1.Role
		fromUnstructured(t, find(t, objs, "Role", "telemetrylake-operator-leader-election"), &role)
		if want := rulesOf(t, filepath.Join("..", "config", "rbac", "leader_election_role.yaml")); !equality.Semantic.DeepEqual(role.Rules, want) {
			t.Errorf("rules differ:\n got %v\nwant %v", role.Rules, want)
		}
		if role.Namespace != "telemetrylake-system" {
			t.Errorf("namespace %q", role.Namespace)
		}
	})

	var d appsv1.Deployment
	fromUnstructured(t, find(t, objs, "Deployment", "telemetrylake-operator"), &d)
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]

	t.Run("the manager runs under the restricted Pod Security Standard", func(t *testing.T) {
		psc, sc := pod.SecurityContext, c.SecurityContext
		switch {
		case psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot:
			t.Error("the pod does not set runAsNonRoot")
		case psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
			t.Error("the pod's seccomp profile is not RuntimeDefault")
		case sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Error("the container may escalate privileges")
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Error("the container's root filesystem is writable")
		case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
			t.Errorf("capabilities %+v, want drop [ALL] and nothing added", sc.Capabilities)
		}
	})
	t.Run("the probes ask the manager's health endpoints on 8081", func(t *testing.T) {
		for path, probe := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
			if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path || probe.HTTPGet.Port.String() != "probes" {
				t.Errorf("probe for %s: %+v", path, probe)
			}
		}
		if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "probes" && p.ContainerPort == 8081 }) {
			t.Errorf("no port probes=8081 in %+v", c.Ports)
		}
		if !slices.Contains(c.Args, "--health-probe-bind-address=:8081") {
			t.Errorf("args %v do not bind the probes to :8081", c.Args)
		}
	})
	t.Run("POD_NAMESPACE comes from the downward API", func(t *testing.T) {
		if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
			return e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace"
		}) {
			t.Errorf("env %+v", c.Env)
		}
	})
	t.Run("every argument is a flag the manager defines", func(t *testing.T) {
		flags := managerFlags(t)
		for _, arg := range c.Args {
			name, _, _ := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
			if !strings.HasPrefix(arg, "--") || !flags[name] {
				t.Errorf("%s: cmd/manager/main.go defines no flag %q", arg, name)
			}
		}
		for _, want := range []string{"--leader-elect=true", "--ingester-image=ghcr.io/telemetrylake/ingester:v0.1.0", "--service-account-issuer=https://kubernetes.default.svc.cluster.local", "--metrics-bind-address=:8080"} {
			if !slices.Contains(c.Args, want) {
				t.Errorf("args %v lack %s", c.Args, want)
			}
		}
	})
	t.Run("the metrics Service selects the manager's pods", func(t *testing.T) {
		var svc corev1.Service
		fromUnstructured(t, find(t, objs, "Service", "telemetrylake-operator-metrics"), &svc)
		for k, v := range svc.Spec.Selector {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("selector %v does not match the pod labels %v", svc.Spec.Selector, d.Spec.Template.Labels)
			}
		}
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].TargetPort.String() != "metrics" {
			t.Errorf("ports %+v", svc.Spec.Ports)
		}
	})
}

func TestHelmTemplateHonoursTheToggles(t *testing.T) {
	helm := helmBinary(t)
	objs := render(t, helm, "lake", "platform", "-f", filepath.Join("testdata", "values-everything-on.yaml"))
	monitor := find(t, objs, "ServiceMonitor", "lake-telemetrylake-operator")
	if got, _, _ := unstructured.NestedString(monitor.Object, "metadata", "labels", "release"); got != "prometheus" {
		t.Errorf("ServiceMonitor labels %v lack release=prometheus", monitor.GetLabels())
	}
	class := find(t, objs, "LakeStorageClass", "seaweedfs")
	if class.GetAnnotations()["lake.telemetrylake.io/is-default-class"] != "true" {
		t.Errorf("the default LakeStorageClass is not annotated as the default: %v", class.GetAnnotations())
	}
	wantSpec := map[string]any{
		"provisioner": "s3-iam",
		"s3": map[string]any{
			"endpoint": "http://seaweedfs.storage.svc:8333", "region": "us-east-1", "pathStyle": true,
			"adminCredentialsSecretRef": map[string]any{"name": "lake-admin"},
			"caSecretRef":               map[string]any{"name": "lake-ca"},
		},
		"bucket":         map[string]any{"mode": "SharedBucket", "nameTemplate": "tl-{namespace}-{name}", "sharedBucketName": "telemetry"},
		"retentionDays":  float64(7), // sigs.k8s.io/yaml decodes every number as float64
		"deletionPolicy": "Delete",
	}
	if !equality.Semantic.DeepEqual(class.Object["spec"], wantSpec) {
		t.Errorf("LakeStorageClass spec\n got %v\nwant %v", class.Object["spec"], wantSpec)
	}

	var d appsv1.Deployment
	fromUnstructured(t, find(t, objs, "Deployment", "lake-telemetrylake-operator"), &d)
	if d.Namespace != "platform" || *d.Spec.Replicas != 2 || d.Spec.Template.Spec.NodeSelector["kubernetes.io/os"] != "linux" {
		t.Errorf("namespace %s, replicas %d, nodeSelector %v", d.Namespace, *d.Spec.Replicas, d.Spec.Template.Spec.NodeSelector)
	}
	if args := d.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--zap-log-level=debug") || args[len(args)-1] != "--zap-devel=false" {
		t.Errorf("args %v", args)
	}

	t.Run("metrics off renders no Service and turns the listener off", func(t *testing.T) {
		objs := render(t, helm, "lake", "platform", "--set", "metrics.enabled=false")
		if slices.ContainsFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() == "Service" }) {
			t.Error("a Service is rendered")
		}
		var d appsv1.Deployment
		fromUnstructured(t, find(t, objs, "Deployment", "lake-telemetrylake-operator"), &d)
		if !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--metrics-bind-address=0") {
			t.Errorf("args %v", d.Spec.Template.Spec.Containers[0].Args)
		}
	})
	t.Run("a filesystem class has no s3 section", func(t *testing.T) {
		objs := render(t, helm, "lake", "platform", "--set", "defaultStorageClass.enabled=true,defaultStorageClass.provisioner=filesystem")
		spec, _ := find(t, objs, "LakeStorageClass", "default").Object["spec"].(map[string]any)
		if _, ok := spec["s3"]; ok || spec["filesystem"] == nil {
			t.Errorf("spec %v", spec)
		}
	})
}

// TestValuesSchemaRefusesBadValues checks that values.schema.json (and the chart's own checks)
// refuse values that would render a broken operator, with a message that names the key.
func TestValuesSchemaRefusesBadValues(t *testing.T) {
	helm := helmBinary(t)
	for _, tc := range []struct {
		set, wantError string
	}{
		{"imagee.tag=v1", "additional properties 'imagee' not allowed"},
		{"replicaCount=-1", "/replicaCount"},
		{"replicaCount=2,leaderElection.enabled=false", "replicaCount > 1 needs leaderElection.enabled"},
		{"leaderElection.enabled=yes", "/leaderElection/enabled"},
		{"logLevel=verbose", "/logLevel"},
		{"image.pullPolicy=Sometimes", "/image/pullPolicy"},
		{"serviceAccountIssuer=http://issuer", "/serviceAccountIssuer"},
		{"metrics.port=8081", "/metrics/port"},
		{"metrics.serviceMonitor.interval=often", "/metrics/serviceMonitor/interval"},
		{"serviceAccount.create=false", "/serviceAccount/name"},
		{"defaultStorageClass.enabled=true,defaultStorageClass.provisioner=nfs", "/defaultStorageClass/provisioner"},
		{"defaultStorageClass.enabled=true,defaultStorageClass.s3.endpoint=s3.example.com", "/defaultStorageClass/s3/endpoint"},
		{"defaultStorageClass.enabled=true,defaultStorageClass.s3.adminCredentialsSecretRef.name=", "/defaultStorageClass/s3/adminCredentialsSecretRef/name"},
		{"defaultStorageClass.enabled=true,defaultStorageClass.bucket.mode=SharedBucket", "/defaultStorageClass/bucket/sharedBucketName"},
		{"defaultStorageClass.retentionDays=-1", "/defaultStorageClass/retentionDays"},
		{"defaultStorageClass.deletionPolicy=Keep", "/defaultStorageClass/deletionPolicy"},
	} {
		t.Run(tc.set+" is refused", func(t *testing.T) {
			out, err := run(helm, "template", "x", chartDir, "--set", tc.set)
			if err == nil {
				t.Fatalf("helm template accepted it")
			}
			if !strings.Contains(out, tc.wantError) {
				t.Errorf("the error does not mention %q:\n%s", tc.wantError, out)
			}
		})
	}
}

// TestChartInstallsOnAKubeAPIServer creates the chart's CRDs and rendered objects, with every
// option on, in a real kube-apiserver: the CRD schema validates the default LakeStorageClass, and
// the namespace enforces and warns on the restricted Pod Security Standard.
func TestChartInstallsOnAKubeAPIServer(t *testing.T) {
	helm := helmBinary(t)
	objs := render(t, helm, "telemetrylake-operator", "telemetrylake-system", "-f", filepath.Join("testdata", "values-everything-on.yaml"))
	kube := harness.StartKubeAPIServer(t)

	warnings := &warningRecorder{}
	cfg := rest.CopyConfig(kube.Config)
	cfg.WarningHandler = warnings
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "telemetrylake-system", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
	}}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	crds, _ := filepath.Glob(filepath.Join(chartDir, "crds", "*.yaml"))
	for _, f := range crds {
		crd := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(harness.ReadFile(t, f), &crd.Object); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := c.Create(ctx, crd); err != nil {
			t.Fatalf("creating %s: %v", f, err)
		}
		waitEstablished(t, c, crd.GetName())
	}
	for _, o := range objs {
		if o.GetKind() == "ServiceMonitor" {
			continue // prometheus-operator's CRDs are not part of this test
		}
		if err := createRetryingNoMatch(ctx, c, o); err != nil {
			t.Errorf("creating %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	if w := warnings.all(); len(w) > 0 {
		t.Errorf("the API server warned:\n%s", strings.Join(w, "\n"))
	}
}

// helmBinary is the pinned helm that hack/tools.sh builds, or $HELM.
func helmBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HELM"); p != "" {
		return p
	}
	return harness.Tool(t, "helm")
}

// render runs helm template and decodes every object it prints.
func render(t *testing.T, helm, release, namespace string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := run(helm, append([]string{"template", release, chartDir, "--namespace", namespace}, args...)...)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			t.Fatalf("helm template printed invalid YAML: %v\n%s", err, doc)
		}
		if m == nil {
			continue // a document of comments only
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	return objs
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

func fromUnstructured(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, into, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

func rulesOf(t *testing.T, path string) []rbacv1.PolicyRule {
	t.Helper()
	var role rbacv1.ClusterRole // a Role's rules have the same shape
	if err := yaml.Unmarshal(harness.ReadFile(t, path), &role); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(role.Rules) == 0 {
		t.Fatalf("%s has no rules", path)
	}
	return role.Rules
}

// managerFlags are the flags cmd/manager/main.go defines (flag.XxxVar(&v, "name", ...)) plus the zap logging
// flags it binds.
func managerFlags(t *testing.T) map[string]bool {
	t.Helper()
	file, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "cmd", "manager", "main.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	flags := map[string]bool{}
	ast.Inspect(file, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) < 2 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if pkg, isIdent := sel.X.(*ast.Ident); !ok || !isIdent || pkg.Name != "flag" {
			return true
		}
		if lit, ok := call.Args[1].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			name, _ := strconv.Unquote(lit.Value)
			flags[name] = true
		}
		return true
	})
	if !flags["leader-elect"] {
		t.Fatalf("found no flag.XxxVar calls in cmd/manager/main.go: %v", flags)
	}
	zapFlags := flag.NewFlagSet("zap", flag.ContinueOnError)
	(&zap.Options{}).BindFlags(zapFlags)
	zapFlags.VisitAll(func(f *flag.Flag) { flags[f.Name] = true })
	return flags
}

func waitEstablished(t *testing.T, c client.Client, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		crd := &unstructured.Unstructured{}
		crd.SetAPIVersion("apiextensions.k8s.io/v1")
		crd.SetKind("CustomResourceDefinition")
		if err := c.Get(context.Background(), client.ObjectKey{Name: name}, crd); err == nil {
			conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, cond := range conditions {
				if cond, ok := cond.(map[string]any); ok && cond["type"] == "Established" && cond["status"] == "True" {
					return
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("CRD %s is not Established after 30s", name)
}

// createRetryingNoMatch creates o, waiting for discovery to learn a CRD created just before.
func createRetryingNoMatch(ctx context.Context, c client.Client, o *unstructured.Unstructured) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.Create(ctx, o)
		if err == nil || !meta.IsNoMatchError(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// warningRecorder keeps every warning the API server sends (Pod Security, deprecations).
type warningRecorder struct {
	mu       sync.Mutex
	warnings []string
}

func (w *warningRecorder) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.warnings = append(w.warnings, fmt.Sprintf("%d %s", code, text))
}

func (w *warningRecorder) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.warnings)
}

func run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
