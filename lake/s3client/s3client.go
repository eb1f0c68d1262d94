// Package s3client builds the AWS SDK clients for an S3-compatible store: the S3 store of the
// lake (package store) and the operator's bucket and IAM provisioner both reach their store
// through it, so endpoint, region, path-style addressing, credentials, retries and checksums
// are worked out in one way. It must never import server or controller code: both sides of the
// project import it.
package s3client

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// DefaultRegion is the region of a store whose region is not given. It is also the one region
// that CreateBucket must not name.
const DefaultRegion = "us-east-1"

// Options say where a store is and how to reach it.
type Options struct {
	// Endpoint is the store's URL, e.g. https://s3.example.com; empty means AWS, with its
	// default endpoints (or those the environment names).
	Endpoint string
	// Region defaults to DefaultRegion.
	Region string
	// PathStyle addresses buckets as Endpoint/bucket rather than bucket.host.
	PathStyle bool
	// AccessKeyID and SecretAccessKey are static credentials. Given, nothing is read from the
	// environment or AWS config files: the operator's admin credentials and CA bundle come from a
	// LakeStorageClass, and must not change with whatever AWS_* variables its pod has. Empty, the
	// standard AWS chain provides the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a
	// credentials file, a role) and the environment the rest, AWS_CA_BUNDLE among it, as a
	// workload (the ingester, the lakehouse) expects; but when the environment names a credentials
	// file (wellknown.EnvStorageCredentialsFile, a CredentialsFile), the credentials come from that
	// file alone, read again as it changes, so that a replaced STS session is used without a
	// restart.
	AccessKeyID, SecretAccessKey string
	// HTTPClient, when set, carries the caller's timeouts and trusted CAs; nil is the SDK's.
	HTTPClient aws.HTTPClient
	Retries    Retries
}

// Retries bound the SDK's own retries of one request: a caller that can retry later (a
// reconcile that requeues, a client that gets our 503) wants a few quick ones, not a request
// held open.
type Retries struct {
	MaxAttempts int
	MaxBackoff  time.Duration
	// NoQuota turns off the client-side retry quota, which after a few failures would replace
	// the store's real error ("connection refused") with "retry quota exceeded" for a while.
	NoQuota bool
}

// region is the region o names, or DefaultRegion.
func (o Options) region() string {
	if o.Region == "" {
		return DefaultRegion
	}
	return o.Region
}

// New builds the S3 client of the store o names, and returns with it the SDK configuration it
// is built on, from which the caller builds the store's other clients (IAM, where the store
// serves it at the same endpoint). optFns are applied last, for what only one caller needs. It
// makes no request.
func New(ctx context.Context, o Options, optFns ...func(*s3.Options)) (*s3.Client, aws.Config, error) {
	cfg, err := config(ctx, o)
	if err != nil {
		return nil, aws.Config{}, err
	}
	if o.Endpoint != "" {
		cfg.BaseEndpoint = aws.String(o.Endpoint)
	}
	client := s3.NewFromConfig(cfg, append([]func(*s3.Options){func(so *s3.Options) {
		so.UsePathStyle = o.PathStyle
		// Checksums only where the API demands them: S3-compatible stores differ in their
		// support for the newer trailing checksums, and TLS already protects the payload.
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}}, optFns...)...)
	return client, cfg, nil
}

func config(ctx context.Context, o Options) (aws.Config, error) {
	retryer := func() aws.Retryer {
		return retry.NewStandard(func(r *retry.StandardOptions) {
			r.MaxAttempts = o.Retries.MaxAttempts
			r.MaxBackoff = o.Retries.MaxBackoff
			if o.Retries.NoQuota {
				r.RateLimiter = ratelimit.None
			}
		})
	}
	if o.AccessKeyID != "" || o.SecretAccessKey != "" {
		cfg := aws.Config{
			Region:      o.region(),
			Credentials: credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, ""),
			HTTPClient:  o.HTTPClient,
			Retryer:     retryer,
		}
		if cfg.HTTPClient == nil {
			cfg.HTTPClient = awshttp.NewBuildableClient()
		}
		return cfg, nil
	}
	load := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(o.region()), awsconfig.WithRetryer(retryer)}
	if o.HTTPClient != nil {
		load = append(load, awsconfig.WithHTTPClient(o.HTTPClient))
	}
	if path := os.Getenv(wellknown.EnvStorageCredentialsFile); path != "" {
		creds, err := credentialsFromFile(ctx, path)
		if err != nil {
			return aws.Config{}, fmt.Errorf("%s=%s: %w", wellknown.EnvStorageCredentialsFile, path, err)
		}
		load = append(load, awsconfig.WithCredentialsProvider(creds))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	return cfg, nil
}
