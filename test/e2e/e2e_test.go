package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers/builders"
	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// What one run of cmd/democlient sends (see its package doc): the test looks for exactly this.
const clientRecords = 20

// stepTimeout bounds each wait for the cluster to settle, so that a stuck step fails with its
// story well before the test binary's deadline. Generous: it is not a performance assertion.
const stepTimeout = 3 * time.Minute

func TestSampleTenantsSendThroughTheirServicesToPodsOnARealNode(t *testing.T) {
	begin := time.Now()
	ctx := testContext(t)
	s := startStack(t, ctx)

	// The chart, installed for real next to the CRDs the stack applied: its operator is a
	// simulated pod (no image is pulled; the real node's taint keeps it off), but its RBAC,
	// ServiceAccount and Deployment are real.
	t.Run("the Helm chart installs over the existing CRDs and its operator Deployment becomes Available", func(t *testing.T) {
		s.checkHelmInstall(t, ctx)
	})

	keys, placement := s.applySamples(t, ctx)
	realNode := s.realNode(t, ctx, placement)
	lakes := make([]*lakev1.TelemetryLake, len(keys))
	for i, key := range keys {
		lakes[i] = s.waitReady(t, ctx, key)
	}
	t.Logf("%d sample lakes Ready after %v, their pods on %s", len(lakes), since(begin), realNode)

	if !t.Run("each lake's status names its endpoint, token Secret and storage, and the token Secret the same endpoint", func(t *testing.T) {
		for _, lake := range lakes {
			names := builders.NamesFor(lake)
			if want := builders.Endpoint(lake); lake.Status.Endpoint != want {
				t.Errorf("%s/%s: status.endpoint %q, want %q", lake.Namespace, lake.Name, lake.Status.Endpoint, want)
			}
			if !slices.ContainsFunc(lake.Status.Tokens, func(ts lakev1.TokenStatus) bool {
				return ts.Name == tokenName && ts.SecretName == names.TokenSecret(tokenName)
			}) {
				t.Errorf("%s/%s: status.tokens %+v lacks %s in Secret %s", lake.Namespace, lake.Name, lake.Status.Tokens, tokenName, names.TokenSecret(tokenName))
			}
			token := s.secret(t, ctx, lake.Namespace, names.TokenSecret(tokenName))
			if got := string(token.Data[wellknown.SecretKeyOTLPEndpoint]); got != lake.Status.Endpoint {
				t.Errorf("%s/%s: Secret %s has %s %q, status.endpoint %q", lake.Namespace, lake.Name, token.Name, wellknown.SecretKeyOTLPEndpoint, got, lake.Status.Endpoint)
			}
			if st := lake.Status.Storage; st == nil || st.Bucket == "" || st.CredentialsSecretName != names.StorageSecret {
				t.Errorf("%s/%s: status.storage %+v, want a bucket and credentials in %s", lake.Namespace, lake.Name, st, names.StorageSecret)
			}
		}
	}) {
		t.FailNow()
	}

	if !t.Run("each lake's ingester pods run on the real node, from the image and with the securityContext the operator rendered", func(t *testing.T) {
		for _, lake := range lakes {
			s.checkIngesterPods(t, ctx, lake, realNode)
		}
	}) {
		t.FailNow()
	}

	// This machine has no cluster DNS: hack/node.sh names each Service's ClusterIP in /etc/hosts
	// (removed by hack/cluster.sh down), so the Secret's endpoint works here as in a pod.
	s.node(t, ctx, "hosts")

	if !t.Run("the SDK sends with exactly the token Secret as its environment, through the Service, and every record lands in the tenant's bucket", func(t *testing.T) {
		for _, lake := range lakes {
			if out, err := s.runClient(ctx, s.clientEnv(t, ctx, lake, "")); err != nil {
				t.Fatalf("democlient for %s/%s: %v\n%s", lake.Namespace, lake.Name, err, out)
			}
			counts := s.requestCounts(t, ctx, lake)
			for _, signal := range []string{"logs", "metrics", "traces"} {
				if counts[signal+" 200"] < 1 {
					t.Errorf("%s/%s: telemetrylake_ingester_requests_total{signal=%q,code=\"200\"} of its pods adds up to %v", lake.Namespace, lake.Name, signal, counts[signal+" 200"])
				}
			}
			got := s.readBucket(t, ctx, lake, s.storageCredentials(t, ctx, lake))
			checkLanded(t, lake, got)
		}
	}) {
		t.FailNow()
	}

	a, b := lakes[0], lakes[1]
	t.Run("tenant A's token is refused with 401 by tenant B's Service", func(t *testing.T) {
		headers := string(s.secret(t, ctx, a.Namespace, builders.NamesFor(a).TokenSecret(tokenName)).Data[wellknown.SecretKeyOTLPHeaders])
		auth, ok := strings.CutPrefix(headers, "Authorization=")
		if !ok {
			t.Fatalf("%s of %s/%s is %q, want Authorization=Bearer …", wellknown.SecretKeyOTLPHeaders, a.Namespace, a.Name, headers)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.Status.Endpoint+"/v1/logs", strings.NewReader(`{"resourceLogs":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s/%s's Service answered %s to %s/%s's token, want 401: %s", b.Namespace, b.Name, resp.Status, a.Namespace, a.Name, body)
		}

		// And the same with the SDK: A's environment, with the endpoint pointed at B's Service.
		bURL, err := url.Parse(b.Status.Endpoint)
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.runClient(ctx, s.clientEnv(t, ctx, a, bURL.Host))
		if err == nil || !strings.Contains(out, "401") {
			t.Errorf("democlient with %s/%s's token at %s/%s's Service: err %v, want a 401 failure\n%s", a.Namespace, a.Name, b.Namespace, b.Name, err, out)
		}
	})

	t.Run("tenant A's storage credentials cannot list tenant B's bucket", func(t *testing.T) {
		creds := s.storageCredentials(t, ctx, a)
		c := s.s3.S3Client(t, creds.AccessKeyID, creds.SecretAccessKey)
		_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(b.Status.Storage.Bucket)})
		if code := harness.HTTPStatus(err); code != http.StatusForbidden {
			t.Errorf("listing %s/%s's bucket %s with %s/%s's credentials: %v (HTTP %d), want 403", b.Namespace, b.Name, b.Status.Storage.Bucket, a.Namespace, a.Name, err, code)
		}
	})

	t.Run("the lakehouse CronJob's job runs on the real node from the lakehouse image, with the tenant's credentials", func(t *testing.T) {
		s.checkLakehouseJob(t, ctx, a, realNode)
	})

	t.Run("a lake of the AssumeRole class runs on the real node with an STS session mounted as a file", func(t *testing.T) {
		s.checkSessionLake(t, ctx, realNode)
	})

	t.Run("SIGTERM on an ingester pod drains it: every request it acknowledged is in the bucket", func(t *testing.T) {
		s.checkDrainOnPodDelete(t, ctx, a)
	})

	t.Run("a spec change rolls the pods for real and Ready follows the new generation", func(t *testing.T) {
		s.checkRolloutOnSpecChange(t, ctx, types.NamespacedName{Namespace: a.Namespace, Name: a.Name})
	})

	t.Run("deleting a lake stops and removes its pods on the real node", func(t *testing.T) {
		s.checkDeleteRemovesPods(t, ctx, b)
	})
	t.Logf("end to end in %v, before teardown", since(begin))
}

// checkLanded checks that everything one democlient run sends is in got.
func checkLanded(t *testing.T, lake *lakev1.TelemetryLake, got *harness.Landed) {
	t.Helper()
	for _, sig := range layout.Signals {
		if got.Blocks[sig] == 0 {
			t.Errorf("%s/%s: no %s block in the bucket", lake.Namespace, lake.Name, sig)
		}
	}
	for i := 1; i <= clientRecords; i++ {
		if body := fmt.Sprintf("democlient log %d of %d", i, clientRecords); !got.LogBodies[body] {
			t.Errorf("%s/%s: log record %q is not in the bucket", lake.Namespace, lake.Name, body)
		}
		if name := fmt.Sprintf("democlient/work-%d", i); !got.SpanNames[name] {
			t.Errorf("%s/%s: span %q is not in the bucket", lake.Namespace, lake.Name, name)
		}
	}
	if !got.SpanNames["democlient/run"] {
		t.Errorf("%s/%s: span democlient/run is not in the bucket", lake.Namespace, lake.Name)
	}
	// Both cumulative: the largest point is the total.
	if items := got.SumMax["democlient.items"]; items != clientRecords {
		t.Errorf("%s/%s: the counter democlient.items reached %d, want %d", lake.Namespace, lake.Name, items, clientRecords)
	}
	if durations := got.HistogramCount["democlient.duration"]; durations != clientRecords {
		t.Errorf("%s/%s: the histogram democlient.duration counts %d points, want %d", lake.Namespace, lake.Name, durations, clientRecords)
	}
}

// waitReady waits until the lake is Ready for its current generation: status.observedGeneration
// and the Ready condition's observedGeneration both equal metadata.generation.
func (s *stack) waitReady(t *testing.T, ctx context.Context, key types.NamespacedName) *lakev1.TelemetryLake {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	for {
		var lake lakev1.TelemetryLake
		err := s.client.Get(ctx, key, &lake)
		if err == nil && readyFor(&lake, lake.Generation) {
			return &lake
		}
		select {
		case <-ctx.Done():
			t.Fatalf("TelemetryLake %s is not Ready for its generation (get: %v):\n%s", key, err, describe(&lake))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// readyFor says whether lake's status reports Ready=True for generation, on the object and on the
// condition.
func readyFor(lake *lakev1.TelemetryLake, generation int64) bool {
	c := meta.FindStatusCondition(lake.Status.Conditions, lakev1.ConditionReady)
	return lake.Status.ObservedGeneration == generation && c != nil &&
		c.Status == metav1.ConditionTrue && c.ObservedGeneration == generation
}

func describe(lake *lakev1.TelemetryLake) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  generation %d, status.observedGeneration %d\n", lake.Generation, lake.Status.ObservedGeneration)
	for _, c := range lake.Status.Conditions {
		fmt.Fprintf(&b, "  %s=%s (generation %d) %s: %s\n", c.Type, c.Status, c.ObservedGeneration, c.Reason, c.Message)
	}
	return b.String()
}

// checkRolloutOnSpecChange sets spec.ingester.logLevel to debug on the lake and checks what
// follows, all of it done by the real controllers of the local cluster: the operator renders a new
// config and rolls the Deployment (a new pod-template-hash), and the lake's Ready goes False and
// then True again, for the new generation.
func (s *stack) checkRolloutOnSpecChange(t *testing.T, ctx context.Context, key types.NamespacedName) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	var lake lakev1.TelemetryLake
	if err := s.client.Get(ctx, key, &lake); err != nil {
		t.Fatal(err)
	}
	names := builders.NamesFor(&lake)
	var dep appsv1.Deployment
	if err := s.client.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: names.Ingester}, &dep); err != nil {
		t.Fatal(err)
	}
	oldHashes := s.templateHashes(t, ctx, &dep)
	oldConfigHash := dep.Spec.Template.Annotations[wellknown.AnnotationConfigHash]
	before := lake.Generation

	// Watch from the lake's current version, so that no status write after the patch is missed.
	follow := s.followLake(t, ctx, key, lake.ResourceVersion)
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"ingester":{"logLevel":"debug"}}}`))
	if err := s.client.Patch(ctx, &lake, patch); err != nil {
		t.Fatal(err)
	}
	generation := lake.Generation
	if generation != before+1 {
		t.Fatalf("the patch took the generation from %d to %d, want %d", before, generation, before+1)
	}
	t.Logf("%s: spec.ingester.logLevel=debug, generation %d", key, generation)

	// Ready=False for the new generation while the Deployment rolls, then Ready=True for it once
	// the rollout is done, and never Ready=True for it before. A rollout only moves forward, so a
	// Deployment still rolling when the test sees a Ready=True means it was rolling when the
	// operator wrote it.
	var history []string
	wentFalse, early, done := false, false, false
	for l := range follow {
		c := meta.FindStatusCondition(l.Status.Conditions, lakev1.ConditionReady)
		if c == nil {
			continue
		}
		entry := fmt.Sprintf("generation %d, observed %d, Ready=%s for generation %d (%s)",
			l.Generation, l.Status.ObservedGeneration, c.Status, c.ObservedGeneration, c.Reason)
		if c.ObservedGeneration == generation && c.Status == metav1.ConditionFalse {
			wentFalse = true
		}
		if readyFor(l, generation) {
			if err := s.client.Get(ctx, client.ObjectKeyFromObject(&dep), &dep); err != nil {
				t.Fatal(err)
			}
			if rolling := rollingOut(&dep); rolling != "" {
				early = true
				history = append(history, entry+" while the Deployment is "+rolling)
				continue
			}
			history = append(history, entry+", the Deployment rolled out")
			done = true
			break
		}
		history = append(history, entry)
	}
	story := strings.Join(history, "\n  ")
	if !done {
		t.Fatalf("%s did not become Ready for generation %d with its Deployment rolled out; its statuses since the patch:\n  %s", key, generation, story)
	}
	if early {
		t.Errorf("%s reported Ready=True for generation %d before its Deployment had rolled out; its statuses since the patch:\n  %s", key, generation, story)
	}
	if !wentFalse {
		t.Errorf("%s never reported Ready=False for generation %d while its Deployment rolled out; its statuses since the patch:\n  %s", key, generation, story)
	}
	if !t.Failed() {
		t.Logf("%s: statuses since the patch:\n  %s", key, story)
	}

	// The operator rendered the new config and rolled the Deployment onto it.
	var cfg ingesterconfig.Config
	raw := s.secret(t, ctx, key.Namespace, names.ConfigSecret).Data[wellknown.SecretKeyConfig]
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil || cfg.LogLevel != "debug" {
		t.Errorf("Secret %s says logLevel %q (%v), want debug", names.ConfigSecret, cfg.LogLevel, err)
	}
	if dep.Spec.Template.Annotations[wellknown.AnnotationConfigHash] == oldConfigHash {
		t.Errorf("Deployment %s kept its %s annotation %q", dep.Name, wellknown.AnnotationConfigHash, oldConfigHash)
	}
	newHashes := s.templateHashes(t, ctx, &dep)
	var rolled []string
	for h, replicas := range newHashes {
		if _, old := oldHashes[h]; !old {
			rolled = append(rolled, h)
		} else if replicas != 0 {
			t.Errorf("the old ReplicaSet with pod-template-hash %s still wants %d pods", h, replicas)
		}
	}
	if len(rolled) != 1 {
		t.Fatalf("pod-template-hashes %v before the change and %v after, want exactly one new", keysOf(oldHashes), keysOf(newHashes))
	}
	// Pods of the old ReplicaSet are deleted gracefully; wait until only new ones are left, Ready.
	s.waitPods(t, ctx, &dep, rolled[0])
	t.Logf("%s: Deployment %s rolled from pod-template-hash %v to %s", key, dep.Name, keysOf(oldHashes), rolled[0])
}

// rollingOut says how dep's rollout stands if it has not finished, by the test the operator's
// status is documented to make: the Deployment controller has seen the current template, every pod
// runs it, and enough of them are available. It returns "" once the rollout is done.
func rollingOut(dep *appsv1.Deployment) string {
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	st := dep.Status
	switch {
	case st.ObservedGeneration < dep.Generation:
		return fmt.Sprintf("not yet seen by the Deployment controller (generation %d, observed %d)", dep.Generation, st.ObservedGeneration)
	case st.UpdatedReplicas < want || st.Replicas > st.UpdatedReplicas:
		return fmt.Sprintf("rolling out (%d of %d pods updated, %d in all)", st.UpdatedReplicas, want, st.Replicas)
	case st.AvailableReplicas < want:
		return fmt.Sprintf("short of available pods (%d of %d)", st.AvailableReplicas, want)
	}
	return ""
}

// followLake sends every version of the lake from resourceVersion on, until ctx ends or the
// receiver stops. A watch that the API server closes is resumed where it stopped.
func (s *stack) followLake(t *testing.T, ctx context.Context, key types.NamespacedName, resourceVersion string) func(func(*lakev1.TelemetryLake) bool) {
	return func(yield func(*lakev1.TelemetryLake) bool) {
		rv := resourceVersion
		for ctx.Err() == nil {
			w, err := s.client.Watch(ctx, &lakev1.TelemetryLakeList{}, client.InNamespace(key.Namespace),
				client.MatchingFields{"metadata.name": key.Name}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}})
			if err != nil {
				t.Fatalf("watching %s: %v", key, err)
			}
			for ev := range w.ResultChan() {
				if ev.Type == watch.Error {
					w.Stop()
					t.Fatalf("watching %s: %v", key, ev.Object)
				}
				l, ok := ev.Object.(*lakev1.TelemetryLake)
				if !ok {
					continue
				}
				rv = l.ResourceVersion
				if !yield(l) {
					w.Stop()
					return
				}
			}
			w.Stop()
		}
	}
}

// templateHashes maps the pod-template-hash of each of dep's ReplicaSets to its spec.replicas.
func (s *stack) templateHashes(t *testing.T, ctx context.Context, dep *appsv1.Deployment) map[string]int32 {
	t.Helper()
	var list appsv1.ReplicaSetList
	if err := s.client.List(ctx, &list, client.InNamespace(dep.Namespace), client.MatchingLabels(dep.Spec.Selector.MatchLabels)); err != nil {
		t.Fatal(err)
	}
	hashes := map[string]int32{}
	for _, rs := range list.Items {
		if metav1.IsControlledBy(&rs, dep) {
			hashes[rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]] = *rs.Spec.Replicas
		}
	}
	return hashes
}

// waitPods waits until every pod of dep that is not being deleted has pod-template-hash hash and
// is Ready, and there are as many as the Deployment wants.
func (s *stack) waitPods(t *testing.T, ctx context.Context, dep *appsv1.Deployment, hash string) {
	t.Helper()
	var last string
	for {
		var pods corev1.PodList
		if err := s.client.List(ctx, &pods, client.InNamespace(dep.Namespace), client.MatchingLabels(dep.Spec.Selector.MatchLabels)); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		current, others := 0, 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			ready := slices.ContainsFunc(p.Status.Conditions, func(c corev1.PodCondition) bool {
				return c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
			})
			fmt.Fprintf(&b, "  %s pod-template-hash=%s ready=%v\n", p.Name, p.Labels[appsv1.DefaultDeploymentUniqueLabelKey], ready)
			if p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] == hash && ready {
				current++
			} else {
				others++
			}
		}
		if others == 0 && current == int(*dep.Spec.Replicas) {
			return
		}
		last = b.String()
		select {
		case <-ctx.Done():
			t.Fatalf("the pods of %s are not all Ready on pod-template-hash %s:\n%s", dep.Name, hash, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func keysOf(m map[string]int32) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// testContext ends a minute before the test binary's deadline, so that a stuck step fails the
// test while there is still time for the cleanups to tear the cluster down.
func testContext(t *testing.T) context.Context {
	deadline := time.Now().Add(10 * time.Minute)
	if d, ok := t.Deadline(); ok && d.Add(-time.Minute).Before(deadline) {
		deadline = d.Add(-time.Minute)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
}
