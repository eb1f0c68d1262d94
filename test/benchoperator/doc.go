// Package benchoperator is `make bench-operator`: the operator onboarding N tenants at once on
// the local kwok cluster of hack/cluster.sh, with a real SeaweedFS (test/harness), measured.
//
// It is a test behind the build tag benchoperator, so that it has the harness's testing.TB and
// stays out of `make test`: it runs for many minutes and prints a table rather than passing or
// failing on a number. Run it with
//
//	make bench-operator                        # N = 100, 300, 1000; s3-iam and shared-bucket
//	make bench-operator BENCH_OPERATOR_ARGS='-n 100 -classes shared-bucket'
//	make bench-operator BENCH_OPERATOR_ARGS='-n 100 -classes s3-sts,s3-iam'
//
// For each class (s3-iam: a bucket and an IAM user per tenant; s3-sts: a bucket per tenant and STS
// sessions of one role, credentials mode AssumeRole, no IAM user; shared-bucket: s3-static, one
// prefix per tenant of one bucket, no IAM) and each N it creates N namespaces with one lake each,
// and reports: the time until all are Ready, p50/p99 of each lake's time to Ready, the manager's
// API requests by verb (its own client-go metric rest_client_requests_total) and its requests to
// the store by API (telemetrylake_store_requests_total, counted on the operator's side of the
// wire) during onboarding, at rest, across a CronJob run and across a restart of the manager;
// the manager's peak RSS and its CPU time while onboarding; and the time to delete all lakes.
package benchoperator
