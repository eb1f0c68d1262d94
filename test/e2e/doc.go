// Package e2e is the end-to-end test of TelemetryLake: the path of `make demo`, with assertions.
//
// It brings up, and tears down again even when it fails, everything the demo does: a local
// cluster from hack/cluster.sh (kwok with a real API server, controller manager and scheduler,
// simulated nodes, and one real node of hack/node.sh: containerd, runc, kubelet, kube-proxy, with
// the ingester and lakehouse images built from the working tree), SeaweedFS with its IAM API
// (test/harness) on the host's address on the node's bridge, the CRDs, the operator built from
// this repository, and the samples of config/samples/ placed on the real node. Then, on pods that
// really run:
//   - each lake's ingester pods run on the real node from the rendered image, as the rendered
//     securityContext says, read from /proc (uid, gid, no capability, read-only root);
//   - the OpenTelemetry SDK (cmd/democlient), with exactly the token Secret as its environment,
//     sends through the tenant's Service (its name in /etc/hosts, kube-proxy to the pods), and
//     every record is read back from the tenant's bucket with the tenant's own credentials;
//   - tenant A's token is refused by tenant B's Service, A's keys by B's bucket;
//   - a lake of the sample AssumeRole class gets its STS session as a file the kubelet mounts;
//   - the lakehouse CronJob's job runs on the real node from its image;
//   - deleting an ingester pod under load (SIGTERM) loses no acknowledged request;
//   - a spec change rolls the pods for real and Ready follows the rollout;
//   - deleting a lake removes its pods.
//
// It also installs charts/telemetrylake-operator with the pinned helm into a namespace of its own,
// over the CRDs already applied, waits until the chart's operator Deployment is Available (kwok
// makes its pod Ready on a simulated node; the real node's taint keeps it off, and the image is
// never pulled), checks the real ClusterRole (the rules of config/rbac/role.yaml), ServiceAccount
// and pod security context, and uninstalls the release.
//
// It needs root (for the real node) and Go: the cluster's binaries and SeaweedFS are built by
// hack/tools.sh on first use, the node's Debian packages installed when missing; a missing one
// fails the test with its name. `go test -short` skips it. It never asserts on timing: the
// machine is shared.
package e2e
