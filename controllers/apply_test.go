package controllers

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// desiredDeployment is a child as a builder returns it: TypeMeta set, no status, only the fields
// the operator owns.
func desiredDeployment() *appsv1.Deployment {
	labels := map[string]string{"app.kubernetes.io/instance": "team-a"}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "team-a-ingester", Namespace: "team-a", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "ingester", Image: "ghcr.io/telemetrylake/ingester:1",
					Ports: []corev1.ContainerPort{{Name: "otlp-http", ContainerPort: 4318}},
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi"),
					}},
				}}},
			},
		},
	}
}

// served is the desired Deployment as the API server gives it back: read through a typed client
// (no TypeMeta), with its metadata, defaults and status filled in.
func served(d *appsv1.Deployment) *appsv1.Deployment {
	live := d.DeepCopy()
	live.TypeMeta = metav1.TypeMeta{}
	live.UID, live.ResourceVersion, live.Generation = "5c0e1d", "4711", 3
	live.CreationTimestamp = metav1.Now()
	live.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "telemetrylake-operator", Operation: metav1.ManagedFieldsOperationApply}}
	live.Annotations = map[string]string{"deployment.kubernetes.io/revision": "3"}
	live.Spec.ProgressDeadlineSeconds = ptr.To(int32(600))
	live.Spec.RevisionHistoryLimit = ptr.To(int32(10))
	live.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
		MaxUnavailable: ptr.To(intstr.FromString("25%")), MaxSurge: ptr.To(intstr.FromString("25%")),
	}}
	pod := &live.Spec.Template.Spec
	pod.RestartPolicy, pod.DNSPolicy, pod.SchedulerName = corev1.RestartPolicyAlways, corev1.DNSClusterFirst, "default-scheduler"
	pod.TerminationGracePeriodSeconds = ptr.To(int64(30))
	pod.Containers[0].ImagePullPolicy = corev1.PullIfNotPresent
	pod.Containers[0].TerminationMessagePath = "/dev/termination-log"
	pod.Containers[0].Ports[0].Protocol = corev1.ProtocolTCP
	live.Status = appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 2, ReadyReplicas: 2}
	return live
}

func TestUnappliedField(t *testing.T) {
	cases := []struct {
		name string
		live func(*appsv1.Deployment)
		// want is "" when no apply is needed, else the start of the path reported.
		want string
	}{
		{name: "the object as served, with the API server's defaults and metadata, needs no apply"},
		{name: "an annotation another controller added needs no apply", live: func(d *appsv1.Deployment) {
			d.Annotations["kubectl.kubernetes.io/restartedAt"] = "2026-03-01T09:00:00Z"
		}},
		{name: "a status that differs from the desired one needs no apply", live: func(d *appsv1.Deployment) {
			d.Status.ReadyReplicas = 0
		}},
		{name: "a label removed by hand is restored", want: ".metadata.labels", live: func(d *appsv1.Deployment) {
			delete(d.Labels, "app.kubernetes.io/instance")
		}},
		{name: "a replica count edited by hand is restored", want: ".spec.replicas (want 2, have 5)", live: func(d *appsv1.Deployment) {
			d.Spec.Replicas = ptr.To(int32(5))
		}},
		{name: "an image edited by hand is restored", want: ".spec.template.spec.containers[0].image", live: func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Image = "evil:latest"
		}},
		{name: "a container added by hand is removed, since the operator owns the list whole", want: ".spec.template.spec.containers (want 1 items)", live: func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "sidecar", Image: "sidecar:1"})
		}},
		{name: "a request the API server canonicalized is the same quantity", live: func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("0.1")
		}},
		{name: "a request changed by hand is restored", want: ".spec.template.spec.containers[0].resources.requests.memory", live: func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse("1Gi")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			desired := desiredDeployment()
			live := served(desired)
			if c.live != nil {
				c.live(live)
			}
			got := diff(t, desired, live)
			switch {
			case c.want == "" && got != "":
				t.Errorf("an apply would be sent, for %s", got)
			case c.want != "" && !strings.HasPrefix(got, c.want):
				t.Errorf("got %q, want a difference at %q", got, c.want)
			}
		})
	}

	t.Run("a Secret whose data was changed by hand is restored", func(t *testing.T) {
		desired := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: "team-a-token-claude", Namespace: "team-a"},
			Type:       corev1.SecretTypeOpaque, Data: map[string][]byte{"token": []byte("tlk_1")}}
		live := desired.DeepCopy()
		live.TypeMeta = metav1.TypeMeta{}
		if got := diff(t, desired, live); got != "" {
			t.Errorf("the same Secret differs at %s", got)
		}
		live.Data["token"] = []byte("tlk_mine")
		if got := diff(t, desired, live); !strings.HasPrefix(got, ".data.token") {
			t.Errorf("got %q, want a difference at .data.token", got)
		}
	})
}

// diff runs the applier's decision on a desired and a live object.
func diff(t *testing.T, desired, live client.Object) string {
	t.Helper()
	want, err := applyConfiguration(desired)
	if err != nil {
		t.Fatal(err)
	}
	got, err := unappliedField(want, live, desired.GetObjectKind().GroupVersionKind())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestApplyConfigurationSendsOnlyWhatTheOperatorMeans(t *testing.T) {
	d := desiredDeployment()
	d.Status.Replicas = 2
	got, err := applyConfiguration(d)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["status"]; ok {
		t.Error("the apply sends a status")
	}
	meta := got["metadata"].(map[string]any)
	if _, ok := meta["creationTimestamp"]; ok {
		t.Error("the apply sends a null creationTimestamp")
	}
	if _, ok := got["spec"].(map[string]any)["strategy"]; ok {
		t.Error("the apply sends the empty strategy of the typed object, which would claim the field")
	}
}

// firstDifference compares what the converter makes of a typed object with what the decoder
// makes of the API server's JSON.
func TestFirstDifference(t *testing.T) {
	cases := []struct {
		name       string
		want, live any
		diff       string
	}{
		{name: "equal numbers of different Go types are equal", want: map[string]any{"n": int64(2)}, live: map[string]any{"n": float64(2)}},
		{name: "different numbers differ", want: map[string]any{"n": int64(2)}, live: map[string]any{"n": float64(3)}, diff: ".n (want 2, have 3)"},
		{name: "quantities of the same amount are equal", want: map[string]any{"cpu": "1000m"}, live: map[string]any{"cpu": "1"}},
		{name: "strings that only look alike differ", want: map[string]any{"s": "1000m"}, live: map[string]any{"s": "1001m"}, diff: ".s (want 1000m, have 1001m)"},
		{name: "a name is not read as a quantity", want: map[string]any{"s": "e3"}, live: map[string]any{"s": "1000"}, diff: ".s (want e3, have 1000)"},
		{name: "a missing map is a difference at its path", want: map[string]any{"a": map[string]any{"b": "c"}}, live: map[string]any{}, diff: ".a"},
		{name: "extra keys in live are the API server's to add", want: map[string]any{"a": "b"}, live: map[string]any{"a": "b", "z": "y"}},
		{name: "lists of different length differ", want: map[string]any{"l": []any{"a"}}, live: map[string]any{"l": []any{"a", "b"}}, diff: ".l (want 1 items)"},
		{name: "list items are compared in order", want: map[string]any{"l": []any{"a", "b"}}, live: map[string]any{"l": []any{"b", "a"}}, diff: ".l[0] (want a, have b)"},
		{name: "booleans compare by value", want: map[string]any{"b": false}, live: map[string]any{"b": false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := firstDifference(c.want, c.live, ""); got != c.diff {
				t.Errorf("got %q, want %q", got, c.diff)
			}
		})
	}
}
