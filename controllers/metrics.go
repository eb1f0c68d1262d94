package controllers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/controllers/provision"
)

// Reconcile durations and error counts per controller come with controller-runtime
// (controller_runtime_reconcile_time_seconds, controller_runtime_reconcile_errors_total). These
// add what only this operator knows.
var provisioningFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "telemetrylake_provisioning_failures_total",
	Help: "Reconciles of a TelemetryLake that stopped on a failed step, by condition reason.",
}, []string{"reason"})

// storeProvisionings counts the reconciles that called the object store and succeeded; at rest,
// with nothing changed, it stays flat (provisioned.go).
var storeProvisionings = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "telemetrylake_store_provisionings_total",
	Help: "Provisionings of a lake's storage that called the object store and succeeded, by LakeStorageClass.",
}, []string{"class"})

func init() {
	ctrlmetrics.Registry.MustRegister(provisioningFailures, storeProvisionings, provision.Requests, provision.RequestDuration)
}

// tenantsCollector reports telemetrylake_tenants{ready} from the informer cache at scrape time, so
// the number can never drift from the objects.
type tenantsCollector struct {
	reader client.Reader
	desc   *prometheus.Desc
}

// RegisterTenantsMetric exposes telemetrylake_tenants on the manager's metrics endpoint.
func RegisterTenantsMetric(reader client.Reader) error {
	return ctrlmetrics.Registry.Register(&tenantsCollector{
		reader: reader,
		desc:   prometheus.NewDesc("telemetrylake_tenants", "TelemetryLakes by whether they are Ready.", []string{"ready"}, nil),
	})
}

func (c *tenantsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *tenantsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var lakes lakev1.TelemetryLakeList
	if err := c.reader.List(ctx, &lakes); err != nil {
		return
	}
	var ready, notReady float64
	for i := range lakes.Items {
		if meta.IsStatusConditionTrue(lakes.Items[i].Status.Conditions, lakev1.ConditionReady) {
			ready++
		} else {
			notReady++
		}
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, ready, "true")
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, notReady, "false")
}

// apiRequests counts the manager's requests to the Kubernetes API server by verb and resource
// (client-go's rest_client_requests_total has the method alone): onboarding is bound by the API
// server on a small cluster, and this says which step of a reconcile spends its requests.
var apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "telemetrylake_api_requests_total",
	Help: "Requests of the operator to the Kubernetes API server, by verb (the HTTP method; GET of a collection is list, with ?watch=true watch) and resource (with /subresource).",
}, []string{"verb", "resource"})

func init() { ctrlmetrics.Registry.MustRegister(apiRequests) }

// CountAPIRequests makes every request of clients built from cfg count in
// telemetrylake_api_requests_total.
func CountAPIRequests(cfg *rest.Config) {
	cfg.Wrap(func(next http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			verb, resource := apiRequestKind(req.Method, req.URL)
			apiRequests.WithLabelValues(verb, resource).Inc()
			return next.RoundTrip(req)
		})
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// apiRequestKind reads the verb and resource of a request from its path:
// /api/v1/[namespaces/NS/]RESOURCE[/NAME[/SUB]] or /apis/GROUP/VERSION/[namespaces/NS/]RESOURCE[/NAME[/SUB]].
func apiRequestKind(method string, u *url.URL) (verb, resource string) {
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return strings.ToLower(method), "other"
	}
	// A namespace's own path (namespaces/NS) names the namespace; deeper, a resource in it.
	if len(parts) >= 3 && parts[0] == "namespaces" {
		parts = parts[2:]
	}
	if len(parts) == 0 {
		return strings.ToLower(method), "other"
	}
	resource = parts[0]
	if len(parts) >= 3 {
		resource += "/" + parts[2]
	}
	verb = strings.ToLower(method)
	if method == http.MethodGet && len(parts) == 1 {
		verb = "list"
		if u.Query().Get("watch") == "true" {
			verb = "watch"
		}
	}
	return verb, resource
}
