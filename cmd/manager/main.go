// Command manager is the TelemetryLake operator: it turns each TelemetryLake into a tenant's
// bucket, credentials, tokens and ingester.
package main

import (
	"flag"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers"
	"github.com/telemetrylake/telemetrylake/controllers/provision"
)

// defaultIngesterImage is the ingester the operator deploys unless a lake names another.
const (
	defaultIngesterImage  = "ghcr.io/telemetrylake/ingester:v0.1.0"
	defaultLakehouseImage = "ghcr.io/telemetrylake/lakehouse:v0.1.0"
	defaultAPIQPS         = 200
	defaultAPIBurst       = 400
)

func main() {
	var (
		metricsAddr, probeAddr, pprofAddr, namespace, image, lakehouseImage, issuer string
		leaderElect                                                                 bool
		workers, storeCalls                                                         int
		storeCheck                                                                  time.Duration
		apiQPS                                                                      float64
		apiBurst                                                                    int
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address of the operator's /metrics")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "address of Go's /debug/pprof profiles (off when empty); make bench-operator profiles the manager with it")
	flag.BoolVar(&leaderElect, "leader-elect", false, "elect a leader, so that only one replica reconciles")
	flag.StringVar(&namespace, "operator-namespace", os.Getenv("POD_NAMESPACE"), "namespace of the LakeStorageClasses' admin Secrets (default $POD_NAMESPACE)")
	flag.StringVar(&image, "ingester-image", defaultIngesterImage, "image of the ingester")
	flag.StringVar(&lakehouseImage, "lakehouse-image", defaultLakehouseImage, "image of the lakehouse materialization CronJob")
	flag.StringVar(&issuer, "service-account-issuer", "https://kubernetes.default.svc.cluster.local", "the cluster's service-account token issuer, trusted for in-cluster callers")
	flag.IntVar(&workers, "max-concurrent-reconciles", controllers.DefaultMaxConcurrentReconciles, "TelemetryLakes reconciled at once")
	flag.IntVar(&storeCalls, "store-calls-per-class", controllers.DefaultStoreCallsPerClass, "lakes of one LakeStorageClass whose object-store calls run at once; the other workers stay free for other classes")
	flag.DurationVar(&storeCheck, "store-check-interval", controllers.DefaultStoreCheckInterval, "how often a provisioned lake's bucket and credentials are checked in the object store even though nothing changed (with up to 20% jitter)")
	// client-go's default of 20 requests a second (burst 30) is what onboarding waited on: 30 lakes
	// took 1,128 requests and 44 s to all Ready, at ~25 requests a second, with the manager using
	// 2.7 s of CPU (make bench-operator). The API server's priority and fairness protects it from a
	// busier client; the client-side limit only makes tenants wait.
	flag.Float64Var(&apiQPS, "kube-api-qps", defaultAPIQPS, "requests a second to the Kubernetes API server, sustained")
	flag.IntVar(&apiBurst, "kube-api-burst", defaultAPIBurst, "requests to the Kubernetes API server in a burst")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")
	if namespace == "" {
		log.Error(nil, "the operator's namespace is unknown: set POD_NAMESPACE or pass --operator-namespace")
		os.Exit(2)
	}

	scheme := runtime.NewScheme()
	must(clientgoscheme.AddToScheme(scheme))
	must(lakev1.AddToScheme(scheme))

	cfg := ctrl.GetConfigOrDie()
	cfg.QPS, cfg.Burst = float32(apiQPS), apiBurst
	controllers.CountAPIRequests(cfg)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: probeAddr,
		PprofBindAddress:       pprofAddr,
		LeaderElection:         leaderElect,
		LeaderElectionID:       "telemetrylake-operator.lake.telemetrylake.io",
		Cache:                  controllers.CacheOptions(namespace),
	})
	if err != nil {
		log.Error(err, "creating the manager")
		os.Exit(1)
	}
	if err := (&controllers.TelemetryLakeReconciler{
		Client:                  mgr.GetClient(),
		Scheme:                  scheme,
		Events:                  mgr.GetEventRecorder(wellknown.ManagedBy),
		OperatorNamespace:       namespace,
		IngesterImage:           image,
		LakehouseImage:          lakehouseImage,
		ServiceAccountIssuer:    issuer,
		NewProvisioner:          provision.NewS3IAM,
		APIReader:               mgr.GetAPIReader(),
		MaxConcurrentReconciles: workers,
		StoreCallsPerClass:      storeCalls,
		StoreCheckInterval:      storeCheck,
	}).SetupWithManager(mgr); err != nil {
		log.Error(err, "setting up the TelemetryLake controller")
		os.Exit(1)
	}
	if err := (&controllers.LakeStorageClassReconciler{Client: mgr.GetClient(), OperatorNamespace: namespace}).SetupWithManager(mgr); err != nil {
		log.Error(err, "setting up the LakeStorageClass controller")
		os.Exit(1)
	}
	must(controllers.RegisterTenantsMetric(mgr.GetClient()))
	must(mgr.AddHealthzCheck("healthz", healthz.Ping))
	must(mgr.AddReadyzCheck("readyz", healthz.Ping))
	log.Info("starting the operator", "namespace", namespace, "ingesterImage", image)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "the manager stopped")
		os.Exit(1)
	}
}

func must(err error) {
	if err != nil {
		ctrl.Log.Error(err, "setup")
		os.Exit(1)
	}
}
