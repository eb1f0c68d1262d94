package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// node runs hack/node.sh ARGS... for the test's cluster and returns its output.
func (s *stack) node(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	out, err := s.script(ctx, "node.sh", args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// realNode is the name of the one node that hack/node.sh placement selects.
func (s *stack) realNode(t *testing.T, ctx context.Context, placement map[string]string) string {
	t.Helper()
	var nodes corev1.NodeList
	if err := s.client.List(ctx, &nodes, client.MatchingLabels(placement)); err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 1 {
		t.Fatalf("%d nodes carry the labels %v of hack/node.sh placement, want the one real node", len(nodes.Items), placement)
	}
	return nodes.Items[0].Name
}

// containerProcess is what the kernel says about a container's process (hack/node.sh inspect).
type containerProcess struct {
	uid, gid int64
	capEff   string // hexadecimal, as in /proc/PID/status
	root     string // the root mount's first option: ro or rw
}

// inspect reads each running container of pod from /proc on the real node.
func (s *stack) inspect(t *testing.T, ctx context.Context, pod *corev1.Pod) map[string]containerProcess {
	t.Helper()
	out := s.node(t, ctx, "inspect", pod.Namespace+"/"+pod.Name)
	procs := map[string]containerProcess{}
	for _, line := range strings.Split(out, "\n") {
		name, rest, _ := strings.Cut(line, " ")
		var p containerProcess
		for _, field := range strings.Fields(rest) {
			k, v, _ := strings.Cut(field, "=")
			switch k {
			case "uid":
				p.uid, _ = strconv.ParseInt(v, 10, 64)
			case "gid":
				p.gid, _ = strconv.ParseInt(v, 10, 64)
			case "capeff":
				p.capEff = v
			case "root":
				p.root = v
			}
		}
		if name != "" {
			procs[name] = p
		}
	}
	return procs
}

// lakePods lists the pods of the lake's component (the app.kubernetes.io/component label) that
// are not being deleted.
func (s *stack) lakePods(t *testing.T, ctx context.Context, lake *lakev1.TelemetryLake, component string) []corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	if err := s.client.List(ctx, &pods, client.InNamespace(lake.Namespace),
		client.MatchingLabels{"app.kubernetes.io/instance": lake.Name, "app.kubernetes.io/component": component}); err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(pods.Items, func(p corev1.Pod) bool { return p.DeletionTimestamp != nil })
}

// checkIngesterPods checks that every ingester pod of lake runs on the real node, from the image
// the operator rendered, as the securityContext the operator rendered says: the uid and gid, no
// effective capability when all are dropped, and a read-only root.
func (s *stack) checkIngesterPods(t *testing.T, ctx context.Context, lake *lakev1.TelemetryLake, realNode string) {
	t.Helper()
	rendered := s.deployment(t, ctx, lake).Spec.Template.Spec
	want := map[string]corev1.Container{}
	for _, c := range rendered.Containers {
		want[c.Name] = c
	}
	pods := s.lakePods(t, ctx, lake, "ingester")
	if len(pods) == 0 {
		t.Fatalf("%s/%s has no ingester pod", lake.Namespace, lake.Name)
	}
	for _, pod := range pods {
		if pod.Spec.NodeName != realNode {
			t.Errorf("pod %s/%s is on node %q, want the real node %s", pod.Namespace, pod.Name, pod.Spec.NodeName, realNode)
			continue
		}
		for _, cs := range pod.Status.ContainerStatuses {
			if cs.State.Running == nil || !cs.Ready {
				t.Errorf("container %s of pod %s/%s: running %v, ready %v", cs.Name, pod.Namespace, pod.Name, cs.State.Running != nil, cs.Ready)
			}
			if c := want[cs.Name]; cs.Image != c.Image {
				t.Errorf("container %s of pod %s/%s runs image %s, the Deployment says %s", cs.Name, pod.Namespace, pod.Name, cs.Image, c.Image)
			}
		}
		for name, got := range s.inspect(t, ctx, &pod) {
			c, ok := want[name]
			if !ok {
				t.Errorf("pod %s/%s runs container %s, which the Deployment does not have", pod.Namespace, pod.Name, name)
				continue
			}
			uid, gid := effectiveIDs(rendered.SecurityContext, c.SecurityContext)
			if uid == nil || got.uid != *uid {
				t.Errorf("container %s of pod %s/%s runs as uid %d, the Deployment says %v", name, pod.Namespace, pod.Name, got.uid, deref(uid))
			}
			if gid != nil && got.gid != *gid {
				t.Errorf("container %s of pod %s/%s runs as gid %d, the Deployment says %d", name, pod.Namespace, pod.Name, got.gid, *gid)
			}
			sc := c.SecurityContext
			if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) != 0 {
				t.Errorf("container %s: the Deployment does not drop all capabilities: %+v", name, sc)
			} else if strings.Trim(got.capEff, "0") != "" {
				t.Errorf("container %s of pod %s/%s has effective capabilities %s, want none", name, pod.Namespace, pod.Name, got.capEff)
			}
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("container %s: the Deployment does not make the root filesystem read-only", name)
			} else if got.root != "ro" {
				t.Errorf("container %s of pod %s/%s has its root mounted %q, want ro", name, pod.Namespace, pod.Name, got.root)
			}
			t.Logf("%s/%s container %s on %s: uid %d, gid %d, CapEff %s, root %s", pod.Namespace, pod.Name, name, pod.Spec.NodeName, got.uid, got.gid, got.capEff, got.root)
		}
	}
}

// effectiveIDs are the uid and gid a container runs as by its pod's and its own securityContext
// (the container's wins).
func effectiveIDs(pod *corev1.PodSecurityContext, c *corev1.SecurityContext) (uid, gid *int64) {
	if pod != nil {
		uid, gid = pod.RunAsUser, pod.RunAsGroup
	}
	if c != nil && c.RunAsUser != nil {
		uid = c.RunAsUser
	}
	if c != nil && c.RunAsGroup != nil {
		gid = c.RunAsGroup
	}
	return uid, gid
}

func deref(p *int64) any {
	if p == nil {
		return "nothing"
	}
	return *p
}

// requestCounts adds up telemetrylake_ingester_requests_total of every ingester pod of lake, read
// from each pod's metrics port on its pod IP, keyed by "<signal> <code>".
func (s *stack) requestCounts(t *testing.T, ctx context.Context, lake *lakev1.TelemetryLake) map[string]float64 {
	t.Helper()
	counts := map[string]float64{}
	for _, pod := range s.lakePods(t, ctx, lake, "ingester") {
		for k, n := range s.podRequestCounts(t, &pod) {
			counts[k] += n
		}
	}
	return counts
}

// podRequestCounts reads telemetrylake_ingester_requests_total from one pod's metrics port.
func (s *stack) podRequestCounts(t *testing.T, pod *corev1.Pod) map[string]float64 {
	t.Helper()
	port := containerPort(pod.Spec.Containers, wellknown.MetricsPortName)
	if pod.Status.PodIP == "" || port == 0 {
		t.Fatalf("pod %s/%s has no IP (%q) or no metrics port", pod.Namespace, pod.Name, pod.Status.PodIP)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s:%d/metrics", pod.Status.PodIP, port))
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

func containerPort(containers []corev1.Container, name string) int32 {
	for _, c := range containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return p.ContainerPort
			}
		}
	}
	return 0
}

func label(labels, name string) string {
	for _, kv := range strings.Split(labels, ",") {
		if v, ok := strings.CutPrefix(kv, name+`="`); ok {
			return strings.TrimSuffix(v, `"`)
		}
	}
	return ""
}
