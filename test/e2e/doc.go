// Package e2e is the end-to-end test of TelemetryLake: the path of `make demo`, with assertions.
//
// It brings up, and tears down again even when it fails, everything the demo does: a local
// cluster from hack/cluster.sh (kwok with a real API server, controller manager and scheduler, and
// simulated nodes), SeaweedFS with its IAM API (test/harness), the CRDs, the operator built from
// this repository, and the samples of config/samples/. Simulated pods run no process, so the test
// then starts one real ingester per tenant, configured only from the Secrets the operator created,
// sends to it with the OpenTelemetry SDK (cmd/democlient) using the token Secret as environment,
// and reads the blocks back from the tenant's bucket with the tenant's own credentials.
//
// It also installs charts/telemetrylake-operator with the pinned helm into a namespace of its own,
// over the CRDs already applied, waits until the chart's operator Deployment is Available (kwok
// makes its pod Ready; the image is never pulled), checks the real ClusterRole (the rules of
// config/rbac/role.yaml), ServiceAccount and pod security context, and uninstalls the release.
//
// It needs nothing but Go: the cluster's binaries and SeaweedFS are built by hack/tools.sh on
// first use. `go test -short` skips it. It never asserts on timing: the machine is shared.
package e2e
