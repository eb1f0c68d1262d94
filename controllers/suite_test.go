package controllers

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers/provision"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

const operatorNamespace = "telemetrylake-system"

// cluster is a real kube-apiserver and etcd with the CRDs installed, a real SeaweedFS, and the
// operator's manager running in this process against them.
type cluster struct {
	api    *harness.KubeAPIServer
	s3     *harness.SeaweedFS
	client client.Client // the test's own, uncached
	// mgr is the manager running now.
	mgr *manager
	// top is the test that started the cluster: managers that subtests start run until it ends.
	top *testing.T
}

// manager is one run of the operator's manager, with what it did counted.
type manager struct {
	// writes counts its write requests to the API server.
	writes atomic.Int64
	// storeCalls counts its calls of the provisioner's methods, each one or more requests to the
	// real store behind it.
	storeCalls atomic.Int64
	// sessionCalls counts the store calls that were AssumeRole (credentials mode AssumeRole).
	sessionCalls atomic.Int64
	// requests counts every request to the API server by "verb resource", as
	// telemetrylake_api_requests_total does.
	requests requestCounts
	// cached reads what the operator reads: its informer cache.
	cached client.Reader
	stop   func()
}

// requestCounts is a count of requests by "verb resource".
type requestCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *requestCounts) add(kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[kind]++
}

// snapshot is a copy of the counts so far.
func (r *requestCounts) snapshot() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.n {
		out[k] = v
	}
	return out
}

// managerConfig is what a test may set of the reconciler; zero values are the defaults.
type managerConfig struct {
	workers, storeCallsPerClass int
	storeCheckInterval          time.Duration
	// sessionRefreshAhead is the reconciler's SessionRefreshAhead.
	sessionRefreshAhead time.Duration
}

func startCluster(t *testing.T) *cluster {
	c := newCluster(t)
	c.mgr = c.startManager(t, managerConfig{})
	return c
}

// newCluster starts the API server and SeaweedFS, and no manager.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{api: harness.StartKubeAPIServer(t), s3: harness.StartSeaweedFS(t), top: t}
	c.api.InstallCRDs(t)
	c.client = c.api.LakeClient(t)
	c.createNamespace(t, operatorNamespace)
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(testWriter{t})))
	return c
}

// startManager runs the operator's manager until the test ends or its stop is called.
func (c *cluster) startManager(t *testing.T, mc managerConfig) *manager {
	t.Helper()
	m := &manager{}
	scheme := c.client.Scheme()
	cfg := rest.CopyConfig(c.api.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return writeCounter{rt, &m.writes, &m.requests} })
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   CacheOptions(operatorNamespace),
		// A test may run one manager after another in this process, as a restart does.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &TelemetryLakeReconciler{
		Client:               mgr.GetClient(),
		Scheme:               scheme,
		Events:               mgr.GetEventRecorder(wellknown.ManagedBy),
		OperatorNamespace:    operatorNamespace,
		IngesterImage:        "ghcr.io/telemetrylake/ingester:test",
		LakehouseImage:       "ghcr.io/telemetrylake/lakehouse:test",
		ServiceAccountIssuer: c.api.IssuerURL,
		NewProvisioner: func(ctx context.Context, ep provision.Endpoint) (provision.BucketProvisioner, error) {
			p, err := provision.NewS3IAM(ctx, ep)
			return countingProvisioner{p, &m.storeCalls, &m.sessionCalls}, err
		},
		APIReader:               mgr.GetAPIReader(),
		MaxConcurrentReconciles: mc.workers,
		StoreCallsPerClass:      mc.storeCallsPerClass,
		StoreCheckInterval:      mc.storeCheckInterval,
		SessionRefreshAhead:     mc.sessionRefreshAhead,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	if err := (&LakeStorageClassReconciler{Client: mgr.GetClient(), OperatorNamespace: operatorNamespace}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	m.cached = mgr.GetClient()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := mgr.Start(ctx); err != nil {
			c.top.Errorf("manager: %v", err)
		}
	}()
	var once sync.Once
	m.stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	c.top.Cleanup(m.stop)
	return m
}

// countingProvisioner counts the calls of the real provisioner it wraps.
type countingProvisioner struct {
	next            provision.BucketProvisioner
	calls, sessions *atomic.Int64
}

func (p countingProvisioner) EnsureStorage(ctx context.Context, pl provision.Placement, days int32) error {
	p.calls.Add(1)
	return p.next.EnsureStorage(ctx, pl, days)
}

func (p countingProvisioner) EnsureCredentials(ctx context.Context, t provision.Tenant, pl provision.Placement, existing *provision.Credentials) (provision.Credentials, error) {
	p.calls.Add(1)
	return p.next.EnsureCredentials(ctx, t, pl, existing)
}

func (p countingProvisioner) EnsureReadOnlyCredentials(ctx context.Context, t provision.Tenant, pl provision.Placement, existing *provision.Credentials) (provision.Credentials, error) {
	p.calls.Add(1)
	return p.next.EnsureReadOnlyCredentials(ctx, t, pl, existing)
}

func (p countingProvisioner) RevokeReadOnlyCredentials(ctx context.Context, t provision.Tenant) error {
	p.calls.Add(1)
	return p.next.RevokeReadOnlyCredentials(ctx, t)
}

func (p countingProvisioner) RevokeCredentials(ctx context.Context, t provision.Tenant) error {
	p.calls.Add(1)
	return p.next.RevokeCredentials(ctx, t)
}

func (p countingProvisioner) AssumeTenantRole(ctx context.Context, t provision.Tenant, pl provision.Placement, role provision.Role) (provision.Credentials, error) {
	p.calls.Add(1)
	p.sessions.Add(1)
	return p.next.AssumeTenantRole(ctx, t, pl, role)
}

func (p countingProvisioner) AssumeReadOnlyTenantRole(ctx context.Context, t provision.Tenant, pl provision.Placement, role provision.Role) (provision.Credentials, error) {
	p.calls.Add(1)
	p.sessions.Add(1)
	return p.next.AssumeReadOnlyTenantRole(ctx, t, pl, role)
}

func (p countingProvisioner) DeleteData(ctx context.Context, pl provision.Placement, deleteBucket bool) error {
	p.calls.Add(1)
	return p.next.DeleteData(ctx, pl, deleteBucket)
}

// writeCounter counts the requests that change something, and every request by verb and resource.
type writeCounter struct {
	next     http.RoundTripper
	writes   *atomic.Int64
	requests *requestCounts
}

func (w writeCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	verb, resource := apiRequestKind(req.Method, req.URL)
	w.requests.add(verb + " " + resource)
	switch req.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		w.writes.Add(1)
	}
	return w.next.RoundTrip(req)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func (c *cluster) createNamespace(t *testing.T, name string) {
	t.Helper()
	err := c.client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or the timeout passes, then fails with its last message.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *cluster) lake(t *testing.T, ns, name string) *lakev1.TelemetryLake {
	t.Helper()
	l := &lakev1.TelemetryLake{}
	if err := c.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, l); err != nil {
		t.Fatal(err)
	}
	return l
}

func condition(l *lakev1.TelemetryLake, typ string) metav1.Condition {
	if c := findCondition(l.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{Type: typ, Status: "Missing"}
}

func describe(l *lakev1.TelemetryLake) string {
	s := fmt.Sprintf("generation %d, observed %d:", l.Generation, l.Status.ObservedGeneration)
	for _, c := range l.Status.Conditions {
		s += fmt.Sprintf(" %s=%s(%s: %s, gen %d)", c.Type, c.Status, c.Reason, c.Message, c.ObservedGeneration)
	}
	return s
}
