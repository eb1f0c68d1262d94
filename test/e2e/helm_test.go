package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/telemetrylake/telemetrylake/test/harness"
)

// The Helm release of the chart test: its own namespace, apart from the operator the test runs
// locally, and a release name that gives every object a name of its own (fullname
// helmRelease-telemetrylake-operator), so that nothing collides with config/rbac's names.
const (
	helmNamespace = "telemetrylake-system-helm"
	helmRelease   = "tl-helm"
	helmFullname  = helmRelease + "-telemetrylake-operator"
)

// checkHelmInstall installs charts/telemetrylake-operator into the local cluster with the pinned
// helm, while the CRDs already exist (as they do on any upgrade or on a cluster where kustomize
// installed them), waits until the chart's operator Deployment is Available (kwok makes its pod
// Ready although the image is never pulled), checks the real objects the chart created, and
// uninstalls the release. A cleanup uninstalls it too if the test stops half-way.
func (s *stack) checkHelmInstall(t *testing.T, ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	begin := time.Now()
	helm := s.helm(t)

	uninstalled := false
	t.Cleanup(func() {
		if uninstalled {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// "not found" is fine: the install may not have got as far as a release.
		if out, err := helm(ctx, "uninstall", helmRelease, "--namespace", helmNamespace, "--ignore-not-found"); err != nil {
			t.Errorf("helm uninstall %s: %v\n%s", helmRelease, err, out)
		}
		s.deleteNamespace(ctx, t, helmNamespace)
	})

	// No --skip-crds: the chart's crds/ are the ones of config/crd, already in the cluster, and
	// Helm must skip them rather than fail. No --wait: the test waits itself, with a story.
	out, err := helm(ctx, "upgrade", "--install", helmRelease, filepath.Join(s.root, "charts", "telemetrylake-operator"),
		"--namespace", helmNamespace, "--create-namespace")
	if err != nil {
		t.Fatalf("helm upgrade --install: %v\n%s", err, out)
	}
	t.Logf("helm upgrade --install %s into %s in %v", helmRelease, helmNamespace, since(begin))

	dep := s.waitAvailable(t, ctx, types.NamespacedName{Namespace: helmNamespace, Name: helmFullname})
	t.Logf("Deployment %s/%s Available after %v", dep.Namespace, dep.Name, since(begin))

	t.Run("the ClusterRole has the rules of config/rbac/role.yaml and is bound to the chart's ServiceAccount", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join(s.root, "config", "rbac", "role.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var want rbacv1.ClusterRole
		if err := yaml.UnmarshalStrict(raw, &want); err != nil {
			t.Fatalf("config/rbac/role.yaml: %v", err)
		}
		var got rbacv1.ClusterRole
		if err := s.client.Get(ctx, types.NamespacedName{Name: helmFullname}, &got); err != nil {
			t.Fatalf("ClusterRole %s: %v", helmFullname, err)
		}
		if len(want.Rules) == 0 || !equality.Semantic.DeepEqual(got.Rules, want.Rules) {
			gotY, _ := yaml.Marshal(got.Rules)
			wantY, _ := yaml.Marshal(want.Rules)
			t.Errorf("ClusterRole %s has the rules\n%s\nwant those of config/rbac/role.yaml:\n%s", helmFullname, gotY, wantY)
		}

		var binding rbacv1.ClusterRoleBinding
		if err := s.client.Get(ctx, types.NamespacedName{Name: helmFullname}, &binding); err != nil {
			t.Fatalf("ClusterRoleBinding %s: %v", helmFullname, err)
		}
		wantSubject := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: helmFullname, Namespace: helmNamespace}
		if binding.RoleRef.Kind != "ClusterRole" || binding.RoleRef.Name != helmFullname ||
			len(binding.Subjects) != 1 || binding.Subjects[0] != wantSubject {
			t.Errorf("ClusterRoleBinding %s binds %+v to %+v, want ClusterRole %s to %+v", helmFullname, binding.RoleRef, binding.Subjects, helmFullname, wantSubject)
		}
	})

	t.Run("the ServiceAccount exists and the operator's pods run as it", func(t *testing.T) {
		var sa corev1.ServiceAccount
		if err := s.client.Get(ctx, types.NamespacedName{Namespace: helmNamespace, Name: helmFullname}, &sa); err != nil {
			t.Fatalf("ServiceAccount %s/%s: %v", helmNamespace, helmFullname, err)
		}
		if got := dep.Spec.Template.Spec.ServiceAccountName; got != sa.Name {
			t.Errorf("the pod template runs as ServiceAccount %q, want %q", got, sa.Name)
		}
	})

	t.Run("the pod template runs as non-root with a read-only root filesystem", func(t *testing.T) {
		pod := dep.Spec.Template.Spec
		if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("the pod securityContext %+v does not set runAsNonRoot: true", sc)
		}
		if len(pod.Containers) == 0 {
			t.Fatal("the pod template has no containers")
		}
		for _, c := range pod.Containers {
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("container %s: securityContext %+v does not set readOnlyRootFilesystem: true", c.Name, sc)
			}
			if sc != nil && sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
				t.Errorf("container %s overrides runAsNonRoot with false", c.Name)
			}
			if sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
				t.Errorf("container %s runs as uid 0", c.Name)
			}
			if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("container %s: securityContext %+v allows privilege escalation", c.Name, sc)
			}
		}
		if sc := pod.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			t.Errorf("the pod runs as uid 0")
		}
	})

	// Uninstall here, as a step of its own, and check that the cluster-scoped objects went too;
	// the cleanup above only does it when the test stops before this point.
	out, err = helm(ctx, "uninstall", helmRelease, "--namespace", helmNamespace, "--wait", "--timeout", "2m")
	if err != nil {
		t.Fatalf("helm uninstall %s: %v\n%s", helmRelease, err, out)
	}
	uninstalled = true
	for _, obj := range []client.Object{&rbacv1.ClusterRole{}, &rbacv1.ClusterRoleBinding{}} {
		if err := s.client.Get(ctx, types.NamespacedName{Name: helmFullname}, obj); !apierrors.IsNotFound(err) {
			t.Errorf("after helm uninstall, getting %T %s: %v, want NotFound", obj, helmFullname, err)
		}
	}
	// The CRDs of crds/ are never deleted by Helm, and the rest of the test still needs them.
	s.waitEstablished(t, ctx, "telemetrylakes.lake.telemetrylake.io", "lakestorageclasses.lake.telemetrylake.io")
	s.deleteNamespace(ctx, t, helmNamespace)
	t.Logf("chart installed, checked and uninstalled in %v", since(begin))
}

// helm returns a runner of the pinned helm against the test's cluster, with Helm's caches and
// configuration in the test's scratch directory rather than the user's home.
func (s *stack) helm(t *testing.T) func(ctx context.Context, args ...string) (string, error) {
	t.Helper()
	bin := harness.Tool(t, "helm")
	home := filepath.Join(s.dir, "helm")
	env := append(os.Environ(),
		"KUBECONFIG="+s.kubeconfig,
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	return func(ctx context.Context, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, append(args, "--kubeconfig", s.kubeconfig)...)
		cmd.Env = env
		var b bytes.Buffer
		cmd.Stdout, cmd.Stderr = &b, &b
		err := cmd.Run()
		return b.String(), err
	}
}

// waitAvailable waits until the Deployment's controller has seen its current generation and
// reports it Available with all of its replicas updated and available, and returns it.
func (s *stack) waitAvailable(t *testing.T, ctx context.Context, key types.NamespacedName) *appsv1.Deployment {
	t.Helper()
	for {
		var dep appsv1.Deployment
		err := s.client.Get(ctx, key, &dep)
		available := false
		if err == nil {
			for _, c := range dep.Status.Conditions {
				if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
					available = true
				}
			}
			if available && rollingOut(&dep) == "" {
				return &dep
			}
		}
		select {
		case <-ctx.Done():
			state := fmt.Sprintf("get: %v", err)
			if err == nil {
				var b strings.Builder
				fmt.Fprintf(&b, "%s; conditions:", rollingOut(&dep))
				for _, c := range dep.Status.Conditions {
					fmt.Fprintf(&b, "\n  %s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
				}
				state = b.String()
			}
			t.Fatalf("Deployment %s is not Available: %s\n%s", key, state, s.podStates(key.Namespace))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// podStates describes the pods of namespace, for a failure message.
func (s *stack) podStates(namespace string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var pods corev1.PodList
	if err := s.client.List(ctx, &pods, client.InNamespace(namespace)); err != nil {
		return fmt.Sprintf("listing the pods of %s: %v", namespace, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "pods of %s:", namespace)
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "\n  %s node=%q phase=%s", p.Name, p.Spec.NodeName, p.Status.Phase)
		for _, c := range p.Status.Conditions {
			fmt.Fprintf(&b, " %s=%s", c.Type, c.Status)
		}
	}
	return b.String()
}

// deleteNamespace deletes namespace without waiting for it to go: the cluster goes at the end
// anyway, and nothing else uses it.
func (s *stack) deleteNamespace(ctx context.Context, t *testing.T, namespace string) {
	err := s.client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("deleting namespace %s: %v", namespace, err)
	}
}
