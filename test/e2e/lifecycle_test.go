package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers/builders"
)

// checkLakehouseJob runs the lake's lakehouse CronJob once, as `kubectl create job --from` does,
// and checks that its pod ran to completion on the real node from the CronJob's image.
func (s *stack) checkLakehouseJob(t *testing.T, ctx context.Context, lake *lakev1.TelemetryLake, realNode string) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	cronName := builders.NamesFor(lake).Lakehouse
	var cron batchv1.CronJob
	if err := s.client.Get(ctx, types.NamespacedName{Namespace: lake.Namespace, Name: cronName}, &cron); err != nil {
		t.Fatal(err)
	}
	job := cronName + "-e2e"
	s.kubectl(t, ctx, "create", "job", "-n", lake.Namespace, job, "--from=cronjob/"+cronName)
	for {
		var j batchv1.Job
		if err := s.client.Get(ctx, types.NamespacedName{Namespace: lake.Namespace, Name: job}, &j); err != nil {
			t.Fatal(err)
		}
		if j.Status.Succeeded > 0 {
			break
		}
		if j.Status.Failed > 0 {
			t.Fatalf("Job %s/%s failed:\n%s", lake.Namespace, job, s.jobLogs(t, ctx, lake.Namespace, job))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Job %s/%s did not complete: %+v\n%s", lake.Namespace, job, j.Status, s.jobLogs(t, ctx, lake.Namespace, job))
		case <-time.After(250 * time.Millisecond):
		}
	}
	pods := s.jobPods(t, ctx, lake.Namespace, job)
	if len(pods) != 1 {
		t.Fatalf("Job %s/%s has %d pods, want 1", lake.Namespace, job, len(pods))
	}
	pod := pods[0]
	want := cron.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image
	if pod.Spec.NodeName != realNode {
		t.Errorf("the Job's pod ran on %q, want the real node %s", pod.Spec.NodeName, realNode)
	}
	if len(pod.Status.ContainerStatuses) != 1 || pod.Status.ContainerStatuses[0].Image != want {
		t.Errorf("the Job's pod ran %+v, want the CronJob's image %s", pod.Status.ContainerStatuses, want)
	}
	logs := s.node(t, ctx, "logs", pod.Namespace+"/"+pod.Name)
	if !strings.Contains(logs, "hours") {
		t.Errorf("the Job's log has no materialize summary:\n%s", logs)
	}
	t.Logf("Job %s/%s completed on %s from %s; its log:\n%s", lake.Namespace, job, pod.Spec.NodeName, want, logs)
}

func (s *stack) jobPods(t *testing.T, ctx context.Context, namespace, job string) []corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	if err := s.client.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels{batchv1.JobNameLabel: job}); err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

func (s *stack) jobLogs(t *testing.T, ctx context.Context, namespace, job string) string {
	var b strings.Builder
	for _, p := range s.jobPods(t, ctx, namespace, job) {
		out, err := s.script(ctx, "node.sh", "logs", p.Namespace+"/"+p.Name)
		fmt.Fprintf(&b, "--- pod %s (%v) ---\n%s\n", p.Name, err, out)
	}
	return b.String()
}

// checkDrainOnPodDelete sends distinct log records through the lake's Service from several
// connections, deletes one of its ingester pods in the middle (the kubelet sends SIGTERM; the
// ingester fails /readyz, keeps serving for its shutdownDelay, then finishes what is in flight),
// and checks that every record that was answered 200 is in the bucket. Requests that fail while
// the pod goes are allowed: a client retries them, and they were never acknowledged.
func (s *stack) checkDrainOnPodDelete(t *testing.T, ctx context.Context, lake *lakev1.TelemetryLake) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	headers := string(s.secret(t, ctx, lake.Namespace, builders.NamesFor(lake).TokenSecret(tokenName)).Data[wellknown.SecretKeyOTLPHeaders])
	auth, _ := strings.CutPrefix(headers, "Authorization=")
	url := lake.Status.Endpoint + "/v1/logs"
	pods := s.lakePods(t, ctx, lake, "ingester")
	if len(pods) < 2 {
		t.Fatalf("%s/%s has %d ingester pods, want at least 2 so that one can go", lake.Namespace, lake.Name, len(pods))
	}
	servedBefore := make([]float64, len(pods))
	for i := range pods {
		servedBefore[i] = s.podRequestCounts(t, &pods[i])["logs 200"]
	}

	const workers = 8
	var (
		mu         sync.Mutex
		acked      []string
		failures   = map[string]int{}
		sent       atomic.Int64
		afterStart atomic.Int64 // acknowledged after the delete was sent
		deleting   atomic.Bool
	)
	load, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 10 * time.Second}
			for i := 0; load.Err() == nil; i++ {
				body := fmt.Sprintf("drain %d-%d", w, i)
				sent.Add(1)
				code, err := postLog(load, c, url, auth, body)
				mu.Lock()
				switch {
				case err == nil && code == http.StatusOK:
					acked = append(acked, body)
					if deleting.Load() {
						afterStart.Add(1)
					}
				case err != nil && load.Err() != nil:
					// stopped, not failed
				case err != nil:
					failures[errorKind(err)]++
				default:
					failures[fmt.Sprintf("HTTP %d", code)]++
				}
				mu.Unlock()
			}
		}()
	}
	defer func() { stopLoad(); wg.Wait() }()

	time.Sleep(2 * time.Second)
	// The pod that goes is the one serving most of the load (kube-proxy picks a pod per
	// connection), so that its drain is what the acknowledged requests depend on.
	victim, most := pods[0], -1.0
	for i := range pods {
		if served := s.podRequestCounts(t, &pods[i])["logs 200"] - servedBefore[i]; served > most {
			victim, most = pods[i], served
		}
	}
	if most <= 0 {
		t.Fatalf("no ingester pod of %s/%s answered a request in the first 2 s of load", lake.Namespace, lake.Name)
	}
	t.Logf("pod %s answered %v of the requests of the first 2 s", victim.Name, most)
	deleting.Store(true)
	t.Logf("deleting pod %s/%s (terminationGracePeriodSeconds %d) under load", victim.Namespace, victim.Name, *victim.Spec.TerminationGracePeriodSeconds)
	if err := s.client.Delete(ctx, &victim); err != nil {
		t.Fatal(err)
	}
	// The kubelet removes the pod object once its containers have stopped.
	for {
		err := s.client.Get(ctx, client.ObjectKeyFromObject(&victim), &corev1.Pod{})
		if apierrors.IsNotFound(err) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod %s is still there: %v", victim.Name, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
	time.Sleep(time.Second)
	stopLoad()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d requests sent, %d answered 200 (%d of them after the delete), failures %v", sent.Load(), len(acked), afterStart.Load(), failures)
	if afterStart.Load() == 0 {
		t.Errorf("no request was acknowledged after the delete: the Service did not keep serving through the other pods")
	}
	landed := s.readBucket(t, ctx, lake, s.storageCredentials(t, ctx, lake))
	missing := 0
	for _, body := range acked {
		if !landed.LogBodies[body] {
			missing++
			if missing <= 5 {
				t.Errorf("record %q was answered 200 but is not in the bucket", body)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged records are not in the bucket", missing, len(acked))
	}

	// The ReplicaSet replaces the pod; the next steps want the Deployment whole again.
	dep := s.deployment(t, ctx, lake)
	var current []string
	for hash, replicas := range s.templateHashes(t, ctx, dep) {
		if replicas > 0 {
			current = append(current, hash)
		}
	}
	if len(current) != 1 {
		t.Fatalf("Deployment %s wants pods of %d ReplicaSets, want 1", dep.Name, len(current))
	}
	s.waitPods(t, ctx, dep, current[0])
}

func (s *stack) deployment(t *testing.T, ctx context.Context, lake *lakev1.TelemetryLake) *appsv1.Deployment {
	t.Helper()
	var dep appsv1.Deployment
	if err := s.client.Get(ctx, types.NamespacedName{Namespace: lake.Namespace, Name: builders.NamesFor(lake).Ingester}, &dep); err != nil {
		t.Fatal(err)
	}
	return &dep
}

// postLog sends one ExportLogsServiceRequest with one log record whose body is body, from a
// resource of its own, so that each request is a block of its own.
func postLog(ctx context.Context, c *http.Client, url, auth, body string) (int, error) {
	str := func(v string) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}
	}
	msg := &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			{Key: "service.name", Value: str("e2e-drain")},
			{Key: "e2e.request", Value: str(body)},
		}},
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{
			TimeUnixNano: uint64(time.Now().UnixNano()),
			Body:         str(body),
		}}}},
	}}}
	raw, err := proto.Marshal(msg)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// errorKind shortens a client error to what kind of failure it was, for the log.
func errorKind(err error) string {
	msg := err.Error()
	for _, kind := range []string{"connection refused", "connection reset", "EOF", "timeout", "no route"} {
		if strings.Contains(msg, kind) {
			return kind
		}
	}
	return msg
}

// checkDeleteRemovesPods deletes the lake and waits until none of its pods is left: the API
// server drops a pod on a real node only once the kubelet has stopped its containers.
func (s *stack) checkDeleteRemovesPods(t *testing.T, ctx context.Context, lake *lakev1.TelemetryLake) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	before := s.lakePods(t, ctx, lake, "ingester")
	if len(before) == 0 {
		t.Fatalf("%s/%s has no ingester pod to remove", lake.Namespace, lake.Name)
	}
	if err := s.client.Delete(ctx, lake); err != nil {
		t.Fatal(err)
	}
	for {
		var pods corev1.PodList
		if err := s.client.List(ctx, &pods, client.InNamespace(lake.Namespace), client.MatchingLabels{"app.kubernetes.io/instance": lake.Name}); err != nil {
			t.Fatal(err)
		}
		err := s.client.Get(ctx, client.ObjectKeyFromObject(lake), &lakev1.TelemetryLake{})
		if len(pods.Items) == 0 && apierrors.IsNotFound(err) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("after deleting %s/%s, %d of its pods are left (lake: %v)", lake.Namespace, lake.Name, len(pods.Items), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
	t.Logf("%s/%s deleted; its %d ingester pods are gone from the real node", lake.Namespace, lake.Name, len(before))
}
