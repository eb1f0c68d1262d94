package builders

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// The CRD's defaults, for the builders to be safe on a TelemetryLake that did not go through the
// API server's defaulting (a unit test, an object from an older CRD). The markers in api/v1alpha1
// are the source; defaults_test.go checks these against the generated CRDs. Defaults the
// controller needs outside the builders too live in api/v1alpha1 (DefaultDeletionPolicy,
// DefaultRotationOverlap), with a test of their own. Where the CRD's default is the ingester's
// own (spec.ingester.maxRequestBodyBytes), the builders use the constant in api/ingesterconfig,
// and the test pins the marker to it.
const (
	defaultReplicas          int32 = 2
	defaultMinReplicas       int32 = 2
	defaultTargetCPUPercent  int32 = 70
	defaultLogLevel                = "info"
	defaultServiceType             = corev1.ServiceTypeClusterIP
	defaultFilesystemSize          = "10Gi"
	defaultLakehouseSchedule       = "*/15 * * * *"
	defaultQueryReplicas     int32 = 1
)

// The ingester's shutdown: after SIGTERM it fails /readyz and keeps serving for shutdownDelay,
// while endpoints and load balancers stop sending, then lets requests in flight finish within
// shutdownGracePeriod. The kubelet must not kill it before both have passed, hence
// terminationGracePeriod with a margin for the process to exit.
const (
	shutdownDelay                = ingesterconfig.KubernetesShutdownDelay
	shutdownGracePeriod          = ingesterconfig.DefaultShutdownGracePeriod
	terminationGracePeriod       = shutdownDelay + shutdownGracePeriod + 10*time.Second
	ingesterUID            int64 = wellknown.NonRootUID // the images' "nonroot" user
)
