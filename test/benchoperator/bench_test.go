//go:build benchoperator

package benchoperator

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	batchv1 "k8s.io/api/batch/v1"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

var (
	sizes       = flag.String("n", "100,300,1000", "numbers of lakes to onboard at once, comma-separated")
	classNames  = flag.String("classes", "s3-iam,shared-bucket", "storage classes to measure, comma-separated: s3-iam, s3-sts, shared-bucket")
	readyWithin = flag.Duration("ready-timeout", 15*time.Minute, "how long to wait for all lakes of one run to be Ready")
	restWindow  = flag.Duration("rest", 30*time.Second, "how long the lakes are watched at rest")
	managerArgs = flag.String("manager-args", "", "extra flags for the manager, space-separated")
	clusterName = flag.String("cluster-name", "telemetrylake-bench-operator", "CLUSTER_NAME of hack/cluster.sh: never the demo's")
	keepCluster = flag.Bool("keep-cluster", false, "leave the cluster up afterwards (hack/cluster.sh down removes it)")
	profileDir  = flag.String("profile-dir", "", "write a CPU profile of the manager's onboarding (pprof) per run into this directory")
)

const (
	operatorNamespace = "telemetrylake-system"
	adminSecret       = "lake-admin"
	sharedBucket      = "bench-shared"
	// tenantRole is the one role the s3-sts class's tenants assume.
	tenantRole = "bench-tenants"
	// podsPerNode is kwok's default node capacity (110) with room for the system's own pods.
	podsPerNode = 100
)

// classFor is the LakeStorageClass of each measured kind; role is the ARN of tenantRole.
func classFor(kind, endpoint, role string) *lakev1.LakeStorageClass {
	s3 := &lakev1.S3Settings{Endpoint: endpoint, Region: "us-east-1", PathStyle: true, AdminCredentialsSecretRef: lakev1.SecretReference{Name: adminSecret}}
	c := &lakev1.LakeStorageClass{ObjectMeta: metav1.ObjectMeta{Name: "bench-" + kind}}
	switch kind {
	case "s3-iam":
		// As config/samples: a bucket and an IAM user per tenant, 30 days of retention.
		c.Spec = lakev1.LakeStorageClassSpec{Provisioner: lakev1.ProvisionerS3IAM, S3: s3,
			Bucket: lakev1.BucketPlacement{Mode: lakev1.BucketPerTenant}, RetentionDays: ptr.To[int32](30), DeletionPolicy: lakev1.DeletionDelete}
	case "s3-sts":
		// s3-iam without IAM users: a bucket per tenant and its retention as there, and STS
		// sessions of one role (credentials mode AssumeRole) instead of a user and key per tenant,
		// which SeaweedFS's embedded IAM serializes under one global lock (issue 13).
		c.Spec = lakev1.LakeStorageClassSpec{Provisioner: lakev1.ProvisionerS3IAM, S3: s3,
			Credentials: &lakev1.CredentialSettings{Mode: lakev1.CredentialModeAssumeRole, RoleARN: role, SessionDuration: &metav1.Duration{Duration: lakev1.DefaultSessionDuration}},
			Bucket:      lakev1.BucketPlacement{Mode: lakev1.BucketPerTenant}, RetentionDays: ptr.To[int32](30), DeletionPolicy: lakev1.DeletionDelete}
	case "shared-bucket":
		// A class whose store is not the limit: one bucket, a prefix per tenant, the class's own
		// key, and no retention (0, not the default 30). Retention in a shared bucket is one
		// lifecycle rule per tenant in the bucket's one lifecycle document, read and rewritten
		// under a lock by every tenant's provisioning: at 300 tenants each rewrite took ~0.7 s and
		// onboarding was bound by it (and S3 allows 1,000 rules per bucket).
		c.Spec = lakev1.LakeStorageClassSpec{Provisioner: lakev1.ProvisionerS3Static, S3: s3,
			Bucket: lakev1.BucketPlacement{Mode: lakev1.SharedBucket, SharedBucketName: sharedBucket}, RetentionDays: ptr.To[int32](0), DeletionPolicy: lakev1.DeletionDelete}
	default:
		return nil
	}
	return c
}

func TestBenchOperator(t *testing.T) {
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			t.Fatalf("-n %q: %q is not a positive number", *sizes, s)
		}
		ns = append(ns, n)
	}
	kinds := strings.Split(*classNames, ",")
	for _, k := range kinds {
		if classFor(k, "", "") == nil {
			t.Fatalf("-classes: unknown class %q (s3-iam, s3-sts, shared-bucket)", k)
		}
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	b := &bench{t: t, root: root}
	b.startCluster(slices.Max(ns))
	b.s3 = harness.StartSeaweedFS(t)
	b.s3.CreateBucket(t, sharedBucket)
	b.buildManager()
	b.install(ctx, kinds)

	var rows []row
	for _, k := range kinds {
		for _, n := range ns {
			t.Logf("=== %s, N=%d", k, n)
			r := b.run(ctx, k, n)
			rows = append(rows, r)
			t.Logf("%s", r.markdown())
		}
	}
	fmt.Println()
	fmt.Println(tableHeader)
	for _, r := range rows {
		fmt.Println(r.markdown())
	}
	fmt.Println()
}

type bench struct {
	t          *testing.T
	root       string
	kubeconfig string
	s3         *harness.SeaweedFS
	client     client.Client
	watcher    client.WithWatch
	apiserver  rest.Interface // the API server's own /metrics
	manager    string         // the built binary
	logDir     string
}

func (b *bench) startCluster(maxLakes int) {
	t := b.t
	nodes := maxLakes/podsPerNode + 2
	cmd := exec.Command(filepath.Join(b.root, "hack", "cluster.sh"), "up")
	// One Service per lake: kube-apiserver's default range holds 254.
	cmd.Env = append(os.Environ(), "CLUSTER_NAME="+*clusterName, fmt.Sprintf("CLUSTER_NODES=%d", nodes), "CLUSTER_SERVICE_CIDR=10.0.0.0/16")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/cluster.sh up: %v", err)
	}
	b.kubeconfig = strings.TrimSpace(string(out))
	if !*keepCluster {
		t.Cleanup(func() {
			down := exec.Command(filepath.Join(b.root, "hack", "cluster.sh"), "down")
			down.Env = append(os.Environ(), "CLUSTER_NAME="+*clusterName)
			down.Stderr = os.Stderr
			if err := down.Run(); err != nil {
				t.Errorf("hack/cluster.sh down: %v", err)
			}
		})
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", b.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	// The bench's own requests (creating N namespaces and lakes, polling) are not what is
	// measured; they must not wait on client-side throttling.
	cfg.QPS, cfg.Burst = 500, 1000
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join(b.root, "config", "crd", "bases")}, ErrorIfPathMissing: true,
	}); err != nil {
		t.Fatalf("installing the CRDs: %v", err)
	}
	if b.client, err = client.New(cfg, client.Options{Scheme: harness.Scheme(t)}); err != nil {
		t.Fatal(err)
	}
	if b.watcher, err = client.NewWithWatch(cfg, client.Options{Scheme: harness.Scheme(t)}); err != nil {
		t.Fatal(err)
	}
	clientset, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.apiserver = clientset.CoreV1().RESTClient()
}

func (b *bench) buildManager() {
	b.logDir = b.t.TempDir()
	b.manager = filepath.Join(b.logDir, "manager")
	cmd := exec.Command("go", "build", "-o", b.manager, "./cmd/manager")
	cmd.Dir, cmd.Stderr = b.root, os.Stderr
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if err := cmd.Run(); err != nil {
		b.t.Fatalf("go build ./cmd/manager: %v", err)
	}
}

func (b *bench) install(ctx context.Context, kinds []string) {
	t := b.t
	create(t, b.client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})
	// A kept cluster (-keep-cluster) has the Secret and classes of an earlier SeaweedFS: replace.
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: adminSecret, Namespace: operatorNamespace}}
	class := map[string]*lakev1.LakeStorageClass{}
	role := ""
	if slices.Contains(kinds, "s3-sts") {
		role = b.s3.CreateTenantRole(t, tenantRole)
	}
	for _, k := range kinds {
		class[k] = classFor(k, b.s3.Endpoint, role)
	}
	_ = b.client.Delete(ctx, secret)
	for _, c := range class {
		_ = b.client.Delete(ctx, c)
	}
	secret.StringData = map[string]string{wellknown.SecretKeyAccessKeyID: b.s3.AccessKey, wellknown.SecretKeySecretAccessKey: b.s3.SecretKey}
	b.eventuallyCreate(secret)
	for _, k := range kinds {
		b.eventuallyCreate(class[k])
	}
	if t.Failed() {
		t.FailNow()
	}
}

// eventuallyCreate creates obj once a deletion of the same name is through.
func (b *bench) eventuallyCreate(obj client.Object) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := b.client.Create(context.Background(), obj)
		if err == nil {
			return
		}
		if !apierrors.IsAlreadyExists(err) || time.Now().After(deadline) {
			b.t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// create creates obj, or says why not (safe from any goroutine).
func create(t *testing.T, c client.Client, obj client.Object) bool {
	t.Helper()
	if err := c.Create(context.Background(), obj); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Errorf("creating %T %s: %v", obj, obj.GetName(), err)
		return false
	}
	return true
}

// managerProc is one run of the manager binary.
type managerProc struct {
	cmd     *exec.Cmd
	metrics string
	pprof   string
	done    chan error
}

func (b *bench) startManager(name string) *managerProc {
	t := b.t
	ports := harness.FreePorts(t, 3)
	logPath := filepath.Join(b.logDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--operator-namespace", operatorNamespace,
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--pprof-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[2])}
	args = append(args, strings.Fields(*managerArgs)...)
	cmd := exec.Command(b.manager, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+b.kubeconfig)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The manager dies with the bench, however the bench ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := &managerProc{cmd: cmd, metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[0]),
		pprof: fmt.Sprintf("http://127.0.0.1:%d/debug/pprof", ports[2]), done: make(chan error, 1)}
	go func() { m.done <- cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() { m.stop() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[1]))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the manager is not ready after 60 s; see %s", logPath)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (m *managerProc) stop() {
	if m.cmd.ProcessState != nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}

// usage is what /proc says of the manager: peak RSS, and CPU time used so far.
func (m *managerProc) usage(t *testing.T) (peakRSSKiB int64, cpu time.Duration) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			peakRSSKiB, _ = strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", m.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	return peakRSSKiB, cpuOfStat(stat)
}

// counts are the manager's counters that the bench reads: API requests by verb, store requests
// by API, reconciles.
type counts struct {
	api        map[string]float64
	store      map[string]float64
	reconciles float64
	// errors are the reconciles that ended in an error, each retried with the queue's backoff.
	errors float64
	// byKind is the manager's API requests by "verb resource" (telemetrylake_api_requests_total).
	byKind map[string]float64
	// storeSeconds and storeTimed are the sum and count of the store requests' durations by API
	// (telemetrylake_store_request_duration_seconds).
	storeSeconds, storeTimed map[string]float64
}

var sample = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([0-9.eE+-]+)$`)
var label = regexp.MustCompile(`([a-zA-Z_]+)="([^"]*)"`)

func (m *managerProc) counts(t *testing.T) counts {
	resp, err := http.Get(m.metrics)
	if err != nil {
		t.Fatalf("reading the manager's metrics: %v", err)
	}
	defer resp.Body.Close()
	c := counts{api: map[string]float64{}, store: map[string]float64{}, byKind: map[string]float64{},
		storeSeconds: map[string]float64{}, storeTimed: map[string]float64{}}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		s := sample.FindStringSubmatch(sc.Text())
		if s == nil {
			continue
		}
		labels := map[string]string{}
		for _, l := range label.FindAllStringSubmatch(s[2], -1) {
			labels[l[1]] = l[2]
		}
		v, _ := strconv.ParseFloat(s[3], 64)
		switch s[1] {
		case "rest_client_requests_total":
			c.api[labels["method"]] += v
		case "telemetrylake_store_requests_total":
			c.store[labels["api"]] += v
		case "telemetrylake_api_requests_total":
			c.byKind[labels["verb"]+" "+labels["resource"]] += v
		case "telemetrylake_store_request_duration_seconds_sum":
			c.storeSeconds[labels["api"]] += v
		case "telemetrylake_store_request_duration_seconds_count":
			c.storeTimed[labels["api"]] += v
		case "controller_runtime_reconcile_total":
			if labels["controller"] == "telemetrylake" {
				c.reconciles += v
				if labels["result"] == "error" {
					c.errors += v
				}
			}
		}
	}
	return c
}

func (c counts) minus(o counts) counts {
	return counts{api: minus(c.api, o.api), store: minus(c.store, o.store), byKind: minus(c.byKind, o.byKind), reconciles: c.reconciles - o.reconciles, errors: c.errors - o.errors,
		storeSeconds: minus(c.storeSeconds, o.storeSeconds), storeTimed: minus(c.storeTimed, o.storeTimed)}
}

// storeLatency is "IAM 412 ms (96), S3 12 ms (40)": the mean duration of the store requests by
// API, and how many there were.
func (c counts) storeLatency() string {
	var parts []string
	for _, api := range slices.Sorted(maps.Keys(c.storeTimed)) {
		parts = append(parts, fmt.Sprintf("%s %.0f ms (%.0f)", api, 1000*c.storeSeconds[api]/c.storeTimed[api], c.storeTimed[api]))
	}
	if parts == nil {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func minus(a, b map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for k, v := range a {
		if v-b[k] != 0 {
			d[k] = v - b[k]
		}
	}
	return d
}

func (c counts) writes() float64 {
	return c.api["POST"] + c.api["PUT"] + c.api["PATCH"] + c.api["DELETE"]
}

// apiString is "2136 (PATCH 1305, POST 600, GET 231)".
func (c counts) apiString() string { return breakdown(c.api) }

func (c counts) storeString() string { return breakdown(c.store) }

func breakdown(m map[string]float64) string {
	var total float64
	var keys []string
	for k, v := range m {
		total += v
		keys = append(keys, k)
	}
	if total == 0 {
		return "0"
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, m[k]))
	}
	return fmt.Sprintf("%.0f (%s)", total, strings.Join(parts, ", "))
}

// row is one run's measurements.
type row struct {
	class                         string
	n, ready                      int
	allReady, p50, p99            time.Duration
	onboarding, rest, tick, after counts
	peakRSSKiB                    int64
	cpu                           time.Duration
	deleted                       time.Duration
}

const tableHeader = "| class | N | all Ready | p50 | p99 | API requests onboarding | store requests onboarding | at rest (API writes / store) | CronJob run (reconciles / store) | restart (API writes / store) | manager peak RSS | manager CPU onboarding | delete all |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|---|---|"

func (r row) markdown() string {
	all := fmt.Sprintf("%.1f s", r.allReady.Seconds())
	if r.ready < r.n {
		all = fmt.Sprintf("**%d of %d** after %.0f s", r.ready, r.n, r.allReady.Seconds())
	}
	return fmt.Sprintf("| %s | %d | %s | %.1f s | %.1f s | %s | %s | %.0f / %s | %.0f / %s | %.0f / %s | %.0f MiB | %.1f s | %.1f s |",
		r.class, r.n, all, r.p50.Seconds(), r.p99.Seconds(), r.onboarding.apiString(), r.onboarding.storeString(),
		r.rest.writes(), r.rest.storeString(), r.tick.reconciles, r.tick.storeString(), r.after.writes(), r.after.storeString(),
		float64(r.peakRSSKiB)/1024, r.cpu.Seconds(), r.deleted.Seconds())
}

// run onboards n lakes of one class, measures them, and deletes them.
func (b *bench) run(ctx context.Context, kind string, n int) row {
	t := b.t
	r := row{class: kind, n: n}
	m := b.startManager(fmt.Sprintf("manager-%s-%d", kind, n))
	before := m.counts(t)
	_, cpuBefore := m.usage(t)
	apiBefore := b.apiserverStats(ctx)
	clusterCPUBefore := b.clusterCPU()
	machineBefore := machineCPU(t)
	profiled := b.profile(m, fmt.Sprintf("%s-%d", kind, n))

	// Onboarding: N namespaces with a lake each, created as fast as the API server takes them.
	prefix := fmt.Sprintf("b-%s-%d-", strings.ReplaceAll(kind, "3-", ""), n)
	created := make([]time.Time, n)
	start := time.Now()
	parallel(n, 32, func(i int) {
		name := fmt.Sprintf("%s%d", prefix, i)
		if create(t, b.client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}) &&
			create(t, b.client, benchLake(name, "bench-"+kind)) {
			created[i] = time.Now()
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	readyAt := b.waitReady(ctx, m, prefix, n, start)
	r.allReady = time.Since(start)
	var latencies []time.Duration
	for i, at := range readyAt {
		if !at.IsZero() {
			latencies = append(latencies, at.Sub(created[i]))
		}
	}
	r.ready = len(latencies)
	r.p50, r.p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
	onboarded := m.counts(t)
	r.onboarding = onboarded.minus(before)
	var cpuOnboarded time.Duration
	r.peakRSSKiB, cpuOnboarded = m.usage(t)
	r.cpu = cpuOnboarded - cpuBefore
	// The CPU of the onboarding is read now, not after the profile, which may go on for a while.
	clusterCPU := minusCPU(b.clusterCPU(), clusterCPUBefore)
	machine := machineCPU(t).minus(machineBefore)
	<-profiled
	b.logOnboarding(ctx, n, r.onboarding, apiBefore, clusterCPU)
	b.logCPUFloor(n, r.allReady, r.cpu, clusterCPU, machine)

	// At rest.
	time.Sleep(*restWindow)
	rested := m.counts(t)
	r.rest = rested.minus(onboarded)

	// A CronJob run: the CronJob controller's two status writes of a tick (the job started, then
	// its success), for every lake at once as at a quarter hour. The lakes' real schedule is
	// yearly, so no real tick falls into the bench.
	now := metav1.Now()
	parallel(n, 32, func(i int) {
		if readyAt[i].IsZero() {
			return // not onboarded within -ready-timeout, so maybe no CronJob yet: the row says how many were
		}
		ns := fmt.Sprintf("%s%d", prefix, i)
		for _, st := range []batchv1.CronJobStatus{
			{LastScheduleTime: &now, Active: []corev1.ObjectReference{{Kind: "Job", Namespace: ns, Name: "lake-lakehouse-tick"}}},
			{LastScheduleTime: &now, LastSuccessfulTime: &now},
		} {
			// The CronJob controller writes the status too: read it afresh on a conflict.
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				cj := &batchv1.CronJob{}
				if err := b.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "lake-lakehouse"}, cj); err != nil {
					return err
				}
				cj.Status = st
				return b.client.Status().Update(ctx, cj)
			})
			if err != nil {
				t.Errorf("CronJob of %s: %v", ns, err)
				return
			}
		}
	})
	time.Sleep(10 * time.Second)
	ticked := m.counts(t)
	r.tick = ticked.minus(rested)

	// A restart: a new manager lists every lake and reconciles each once.
	m.stop()
	m = b.startManager(fmt.Sprintf("manager-%s-%d-restarted", kind, n))
	restarted := m.counts(t)
	deadline := time.Now().Add(*readyWithin)
	for m.counts(t).reconciles-restarted.reconciles < float64(n) && time.Now().Before(deadline) {
		time.Sleep(time.Second)
	}
	time.Sleep(10 * time.Second)
	r.after = m.counts(t).minus(counts{})

	// Delete every lake (the finalizer revokes and deletes its storage), then the namespaces.
	start = time.Now()
	parallel(n, 32, func(i int) {
		ns := fmt.Sprintf("%s%d", prefix, i)
		if err := b.client.Delete(ctx, &lakev1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{Name: "lake", Namespace: ns}}); client.IgnoreNotFound(err) != nil {
			t.Errorf("deleting the lake of %s: %v", ns, err)
		}
	})
	for {
		left := b.lakesOf(ctx, prefix)
		if len(left) == 0 {
			break
		}
		if time.Since(start) > *readyWithin {
			t.Errorf("%d lakes are still there %s after they were deleted", len(left), *readyWithin)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	r.deleted = time.Since(start)
	parallel(n, 32, func(i int) {
		_ = b.client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s%d", prefix, i)}})
	})
	m.stop()
	b.waitNamespacesGone(ctx, prefix, n)
	return r
}

// waitNamespacesGone waits until the namespace controller has emptied and removed the run's
// namespaces, so that the next run's onboarding does not share the cluster's CPU with this
// run's cleanup (at N=300 it overlapped N=100's).
func (b *bench) waitNamespacesGone(ctx context.Context, prefix string, n int) {
	start, lastLog := time.Now(), time.Now()
	for {
		var list corev1.NamespaceList
		if err := b.client.List(ctx, &list); err != nil {
			b.t.Errorf("listing namespaces: %v", err)
			return
		}
		left := 0
		for _, ns := range list.Items {
			if strings.HasPrefix(ns.Name, prefix) {
				left++
			}
		}
		switch {
		case left == 0:
			b.t.Logf("N=%d: the %d namespaces were gone %.1f s after their deletion", n, n, time.Since(start).Seconds())
			return
		case time.Since(start) > *readyWithin:
			b.t.Errorf("N=%d: %d namespaces still there %s after they were deleted", n, left, *readyWithin)
			return
		case time.Since(lastLog) > 10*time.Second:
			b.t.Logf("N=%d: %d of %d namespaces still terminating", n, left, n)
			lastLog = time.Now()
		}
		time.Sleep(time.Second)
	}
}

// profile takes a CPU profile of the manager for the first 60 s of onboarding (or until it
// ends, whichever is first) into -profile-dir, when set; the channel closes when it is written.
func (b *bench) profile(m *managerProc, name string) <-chan struct{} {
	done := make(chan struct{})
	if *profileDir == "" {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		resp, err := http.Get(m.pprof + "/profile?seconds=60")
		if err != nil {
			b.t.Logf("profiling the manager: %v", err)
			return
		}
		defer resp.Body.Close()
		path := filepath.Join(*profileDir, "manager-"+name+".pprof")
		f, err := os.Create(path)
		if err == nil {
			_, err = io.Copy(f, resp.Body)
			f.Close()
		}
		if err != nil {
			b.t.Logf("writing %s: %v", path, err)
			return
		}
		b.t.Logf("manager CPU profile of onboarding: %s (go tool pprof -top %s)", path, path)
	}()
	return done
}

// apiserverStats are the API server's own counters: requests by "verb resource[/subresource]"
// (apiserver_request_total), the seconds they took (apiserver_request_duration_seconds), and
// the seconds its calls of etcd took by operation (etcd_request_duration_seconds). They count
// every client's requests: the manager's and the cluster's own (kwok-controller's pod and node
// status writes, the scheduler's bindings, kube-controller-manager's ReplicaSets and pods, and
// the bench's own creates and watches).
type apiserverStats struct {
	requests, seconds, etcdSeconds, etcdCalls map[string]float64
}

func (b *bench) apiserverStats(ctx context.Context) apiserverStats {
	st := apiserverStats{requests: map[string]float64{}, seconds: map[string]float64{}, etcdSeconds: map[string]float64{}, etcdCalls: map[string]float64{}}
	raw, err := b.apiserver.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		b.t.Logf("reading the API server's metrics: %v", err)
		return st
	}
	for _, line := range strings.Split(string(raw), "\n") {
		s := sample.FindStringSubmatch(line)
		if s == nil {
			continue
		}
		labels := map[string]string{}
		for _, l := range label.FindAllStringSubmatch(s[2], -1) {
			labels[l[1]] = l[2]
		}
		v, _ := strconv.ParseFloat(s[3], 64)
		key := strings.ToLower(labels["verb"]) + " " + labels["resource"]
		if labels["subresource"] != "" {
			key += "/" + labels["subresource"]
		}
		switch s[1] {
		case "apiserver_request_total":
			st.requests[key] += v
		case "apiserver_request_duration_seconds_sum":
			st.seconds[key] += v
		case "etcd_request_duration_seconds_sum":
			st.etcdSeconds[labels["operation"]] += v
		case "etcd_request_duration_seconds_count":
			st.etcdCalls[labels["operation"]] += v
		}
	}
	return st
}

func (a apiserverStats) minus(o apiserverStats) apiserverStats {
	return apiserverStats{requests: minus(a.requests, o.requests), seconds: minus(a.seconds, o.seconds),
		etcdSeconds: minus(a.etcdSeconds, o.etcdSeconds), etcdCalls: minus(a.etcdCalls, o.etcdCalls)}
}

// latencies is "patch telemetrylakes/status 12 ms, ...": the mean time the API server took for
// each of the kinds of request it served most, and etcd's mean by operation.
func (a apiserverStats) latencies() string {
	var keys []string
	for k := range a.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return a.requests[keys[i]] > a.requests[keys[j]] })
	var parts []string
	for _, k := range keys[:min(len(keys), 8)] {
		parts = append(parts, fmt.Sprintf("%s %.0f ms", k, 1000*a.seconds[k]/a.requests[k]))
	}
	var etcd []string
	for op, n := range a.etcdCalls {
		if n >= 100 {
			etcd = append(etcd, fmt.Sprintf("%s %.1f ms (%.0f)", op, 1000*a.etcdSeconds[op]/n, n))
		}
	}
	sort.Strings(etcd)
	return strings.Join(parts, ", ") + "; etcd: " + strings.Join(etcd, ", ")
}

// clusterCPU is the CPU time each of the cluster's processes (those whose binary sits in the
// bench's cluster's directory) and the bench has used so far, by the name of its binary.
func (b *bench) clusterCPU() map[string]time.Duration {
	out := map[string]time.Duration{}
	pids, _ := filepath.Glob("/proc/[0-9]*")
	self := fmt.Sprintf("/proc/%d", os.Getpid())
	for _, dir := range pids {
		if dir == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil {
			continue
		}
		// kwokctl runs each component from the cluster's own bin directory.
		args := strings.Split(string(cmdline), "\x00")
		if !strings.Contains(args[0], *clusterName) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			continue
		}
		out[filepath.Base(args[0])] += cpuOfStat(stat)
	}
	// The bench itself: its creates, and its list of every lake each 250 ms.
	if stat, err := os.ReadFile("/proc/self/stat"); err == nil {
		out["bench"] = cpuOfStat(stat)
	}
	return out
}

// cpuOfStat is utime+stime of a /proc/PID/stat. The fields after the command name (which may
// hold spaces, in parentheses): utime and stime are the 14th and 15th of the whole line, in clock
// ticks (100 a second on Linux).
func cpuOfStat(stat []byte) time.Duration {
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return clockTicks(utime + stime)
}

// clockTicks converts /proc's CPU times, in clock ticks of 10 ms (USER_HZ is 100 on Linux).
func clockTicks(n int64) time.Duration { return time.Duration(n) * 10 * time.Millisecond }

// logOnboarding says where the onboarding's requests and CPU went: the manager's requests per
// lake by verb and resource, every client's as the API server counted them, and the CPU of each
// of the cluster's processes.
func (b *bench) logOnboarding(ctx context.Context, n int, onboarding counts, apiBefore apiserverStats, clusterCPU map[string]time.Duration) {
	t := b.t
	t.Logf("manager's reconciles onboarding, per lake: %.1f (%.2f ended in an error)", onboarding.reconciles/float64(n), onboarding.errors/float64(n))
	t.Logf("manager's API requests onboarding, per lake: %s", perLake(onboarding.byKind, n))
	t.Logf("manager's store requests onboarding, mean duration: %s", onboarding.storeLatency())
	api := b.apiserverStats(ctx).minus(apiBefore)
	t.Logf("API server's requests onboarding (every client), per lake: %s", perLake(api.requests, n))
	t.Logf("API server's mean latency onboarding: %s", api.latencies())
	var cpu []string
	for name, d := range clusterCPU {
		cpu = append(cpu, fmt.Sprintf("%s %.1f s", name, d.Seconds()))
	}
	sort.Strings(cpu)
	t.Logf("cluster CPU onboarding: %s", strings.Join(cpu, ", "))
}

// logCPUFloor says how long the onboarding had to take on this machine whatever the operator
// did: the CPU that the cluster, the manager and the bench used, spread over every core with no
// wait at all. Against the wall time it tells an onboarding bound by CPU (the two close, the
// machine busy throughout) from one bound by waiting; the machine's own busy time says how much
// of the CPU other work on the machine took.
func (b *bench) logCPUFloor(n int, wall, managerCPU time.Duration, clusterCPU map[string]time.Duration, machine machineTimes) {
	used := managerCPU
	for _, d := range clusterCPU {
		used += d
	}
	cores := runtime.NumCPU()
	b.t.Logf("CPU floor onboarding %d lakes: %.1f s of CPU (%.0f ms a lake) by the cluster, the manager and the bench = %.1f s on %d cores, against %.1f s taken; the machine was busy %.0f %% of the time, %.1f s of CPU of which %.1f s were other work's",
		n, used.Seconds(), used.Seconds()*1000/float64(n), used.Seconds()/float64(cores), cores, wall.Seconds(),
		100*machine.busy.Seconds()/machine.total.Seconds(), machine.busy.Seconds(), max(0, (machine.busy-used).Seconds()))
}

// minusCPU is the CPU each process used between two clusterCPU readings.
func minusCPU(now, before map[string]time.Duration) map[string]time.Duration {
	d := map[string]time.Duration{}
	for name, t := range now {
		d[name] = t - before[name]
	}
	return d
}

// machineTimes is the whole machine's CPU time from /proc/stat: all of it and the busy part.
type machineTimes struct{ busy, total time.Duration }

func (m machineTimes) minus(o machineTimes) machineTimes {
	return machineTimes{busy: m.busy - o.busy, total: m.total - o.total}
}

// machineCPU reads /proc/stat's first line: user nice system idle iowait irq softirq steal, in
// clock ticks (100 a second); idle and iowait are the time no core was busy.
func machineCPU(t *testing.T) machineTimes {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	var m machineTimes
	for i, f := range strings.Fields(line)[1:] {
		if i >= 8 { // guest time is counted in user already
			break
		}
		ticks, _ := strconv.ParseInt(f, 10, 64)
		d := clockTicks(ticks)
		m.total += d
		if i != 3 && i != 4 {
			m.busy += d
		}
	}
	return m
}

// perLake is "12.0 (patch secrets 3.0, ...)": requests per lake, the largest first.
func perLake(m map[string]float64, n int) string {
	per := map[string]float64{}
	for k, v := range m {
		per[k] = v / float64(n)
	}
	var total float64
	var keys []string
	for k, v := range per {
		total += v
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return per[keys[i]] > per[keys[j]] })
	var parts []string
	for _, k := range keys {
		if per[k] >= 0.05 {
			parts = append(parts, fmt.Sprintf("%s %.1f", k, per[k]))
		}
	}
	return fmt.Sprintf("%.1f (%s)", total, strings.Join(parts, ", "))
}

// benchLake is a tenant's lake as config/samples has them, with one ingester replica (the
// simulated nodes hold a hundred pods each) and its CronJob scheduled yearly.
func benchLake(ns, class string) *lakev1.TelemetryLake {
	return &lakev1.TelemetryLake{
		ObjectMeta: metav1.ObjectMeta{Name: "lake", Namespace: ns},
		Spec: lakev1.TelemetryLakeSpec{
			StorageClassName: class,
			Ingester:         lakev1.IngesterSpec{Replicas: ptr.To[int32](1)},
			Auth:             lakev1.AuthSpec{Tokens: []lakev1.TokenSpec{{Name: "claude"}}},
			Lakehouse:        lakev1.LakehouseSpec{Schedule: "0 0 1 1 *"},
		},
	}
}

// waitReady watches the lakes until all are Ready or the timeout passes, and returns when each was
// first seen Ready (zero for never). A watch, not a poll: listing every lake each 250 ms was
// work of the API server's (a list of N lakes serialized 4 times a second) that the bench added
// to what it measures, 0.5 lists a lake at 300 lakes.
func (b *bench) waitReady(ctx context.Context, m *managerProc, prefix string, n int, start time.Time) []time.Time {
	lastTick := m.counts(b.t)
	readyAt := make([]time.Time, n)
	seen := 0
	note := func(l *lakev1.TelemetryLake) {
		i, err := strconv.Atoi(strings.TrimPrefix(l.Namespace, prefix))
		if !strings.HasPrefix(l.Namespace, prefix) || err != nil || i >= n || !readyAt[i].IsZero() {
			return
		}
		c := meta.FindStatusCondition(l.Status.Conditions, lakev1.ConditionReady)
		if c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == l.Generation {
			readyAt[i] = time.Now()
			seen++
		}
	}
	ctx, cancel := context.WithDeadline(ctx, start.Add(*readyWithin))
	defer cancel()
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
	for seen < n && ctx.Err() == nil {
		var list lakev1.TelemetryLakeList
		if err := b.watcher.List(ctx, &list); err != nil {
			if ctx.Err() == nil {
				b.t.Fatalf("listing lakes: %v", err)
			}
			break
		}
		for i := range list.Items {
			note(&list.Items[i])
		}
		w, err := b.watcher.Watch(ctx, &lakev1.TelemetryLakeList{}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
		if err != nil {
			if ctx.Err() == nil {
				b.t.Fatalf("watching lakes: %v", err)
			}
			break
		}
	watching:
		for seen < n {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					break watching // the watch ended (its timeout): list and watch again
				}
				if l, isLake := ev.Object.(*lakev1.TelemetryLake); isLake {
					note(l)
				}
			case <-progress.C:
				// The store's latency over the last ten seconds: how a store that slows down as it
				// fills (SeaweedFS's IAM) bends the curve.
				now := m.counts(b.t)
				b.t.Logf("%d of %d Ready after %.0f s; store requests in the last 10 s: %s", seen, n, time.Since(start).Seconds(), now.minus(lastTick).storeLatency())
				lastTick = now
			case <-ctx.Done():
				break watching
			}
		}
		w.Stop()
	}
	return readyAt
}

func (b *bench) lakesOf(ctx context.Context, prefix string) []lakev1.TelemetryLake {
	var list lakev1.TelemetryLakeList
	if err := b.client.List(ctx, &list); err != nil {
		b.t.Fatalf("listing lakes: %v", err)
	}
	var out []lakev1.TelemetryLake
	for _, l := range list.Items {
		if strings.HasPrefix(l.Namespace, prefix) {
			out = append(out, l)
		}
	}
	return out
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// parallel runs f(0..n-1) on workers goroutines.
func parallel(n, workers int, f func(int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
