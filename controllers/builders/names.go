package builders

import (
	"fmt"

	"github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// Names are the names of a TelemetryLake's children: the one place they are derived, for the
// builders, the controller's lookups and deletions, and the status.
//
// The longest fixed suffix is "-ingester-config" (16 characters), and the Service name must be a
// DNS label (at most 63 characters, starting with a letter), so a TelemetryLake name must have at
// most 54 characters and start with a letter for its Service to be valid.
type Names struct {
	// Ingester names the Deployment, Service, ServiceAccount, PodDisruptionBudget,
	// HorizontalPodAutoscaler and Ingress.
	Ingester string
	// StorageSecret holds the tenant's scoped storage credentials.
	StorageSecret string
	// AuthSecret holds the token file: hashes only, never a token.
	AuthSecret string
	// ConfigSecret holds the ingester's config file. It is a Secret, not a ConfigMap, because it
	// names the tenant's bucket and identity providers.
	ConfigSecret string
	// DataVolumeClaim is the filesystem provisioner's volume.
	DataVolumeClaim string
	// Lakehouse names the CronJob that materializes the lake's tables.
	Lakehouse string
	// Query names the query server's Deployment and Service (spec.query).
	Query string
	// QueryStorageSecret holds the query server's read-only storage key.
	QueryStorageSecret string
	// QueryConnectionSecret holds the query server's connection string and Grafana data source.
	QueryConnectionSecret string

	lake string
}

// NamesFor derives the child names of lake.
func NamesFor(lake *v1alpha1.TelemetryLake) Names {
	n := lake.Name
	return Names{
		Ingester:              n + "-ingester",
		StorageSecret:         n + "-storage",
		AuthSecret:            n + "-ingester-auth",
		ConfigSecret:          n + "-ingester-config",
		DataVolumeClaim:       n + "-data",
		Lakehouse:             n + "-lakehouse",
		Query:                 n + "-query",
		QueryStorageSecret:    n + "-query-storage",
		QueryConnectionSecret: n + "-query-connection",
		lake:                  n,
	}
}

// TokenSecret names the Secret of the token called token (spec.auth.tokens[].name).
func (n Names) TokenSecret(token string) string {
	return n.lake + "-token-" + token
}

// Endpoint is the in-cluster base URL of lake's ingester, for OTEL_EXPORTER_OTLP_ENDPOINT and
// status.endpoint: SDKs append /v1/<signal> to it.
func Endpoint(lake *v1alpha1.TelemetryLake) string {
	return fmt.Sprintf("http://%s.%s.svc:%d%s", NamesFor(lake).Ingester, lake.Namespace, wellknown.OTLPHTTPPort, wellknown.OTLPBasePath)
}
