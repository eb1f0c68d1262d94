package controllers

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
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
	ctrlmetrics.Registry.MustRegister(provisioningFailures, storeProvisionings, provision.Requests)
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
