package provision

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/telemetrylake/telemetrylake/lake/s3client"
)

// Endpoint says where the object store is and how to reach it with admin credentials.
type Endpoint struct {
	// URL is the S3 endpoint, e.g. https://s3.example.com; the IAM API is expected at the same
	// URL, as SeaweedFS and Ceph RGW serve it. Empty means AWS, with its default endpoints.
	URL string
	// Region defaults to us-east-1.
	Region string
	// PathStyle addresses buckets as URL/bucket rather than bucket.host.
	PathStyle bool
	// CABundle is optional PEM; its certificates are trusted in addition to the system's.
	CABundle []byte
	// AccessKeyID and SecretAccessKey are the admin credentials. They are used only here and
	// never reach a tenant.
	AccessKeyID, SecretAccessKey string
}

// Limits on each request. A reconcile that fails requeues with backoff, so a request gives up
// early rather than holding a worker while the store is down.
const (
	dialTimeout           = 3 * time.Second
	tlsHandshakeTimeout   = 5 * time.Second
	responseHeaderTimeout = 10 * time.Second
	requestTimeout        = 30 * time.Second
	maxAttempts           = 3
	maxBackoff            = time.Second
)

// s3iam is the BucketProvisioner for S3-compatible stores with an IAM API.
type s3iam struct {
	s3  *s3.Client
	iam *iam.Client
	// sts serves AssumeTenantRole; SeaweedFS serves it at the S3 endpoint, like IAM.
	sts *sts.Client
	// where names the store in messages: its URL, or AWS.
	where  string
	region string
	// endpoint keys the per-bucket locks (see lockBucket).
	endpoint string
}

// NewS3IAM returns a BucketProvisioner that acts on the store at ep with ep's admin
// credentials. It makes no request; a bad endpoint shows up on first use. Build one per
// LakeStorageClass and reuse it: it holds a connection pool.
func NewS3IAM(ctx context.Context, ep Endpoint) (BucketProvisioner, error) {
	if ep.AccessKeyID == "" || ep.SecretAccessKey == "" {
		return nil, invalidf("the admin credentials for the object store at %s are incomplete: both an access key id and a secret access key are needed", describe(ep.URL))
	}
	if ep.URL != "" {
		u, err := url.Parse(ep.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, invalidf("object store endpoint %q in the LakeStorageClass is not an http:// or https:// URL", ep.URL)
		}
	}
	httpClient, err := newHTTPClient(ep)
	if err != nil {
		return nil, err
	}
	opts := s3client.Options{
		Endpoint:        ep.URL,
		Region:          ep.Region,
		PathStyle:       ep.PathStyle,
		AccessKeyID:     ep.AccessKeyID,
		SecretAccessKey: ep.SecretAccessKey,
		HTTPClient:      httpClient,
		Retries:         s3client.Retries{MaxAttempts: maxAttempts, MaxBackoff: maxBackoff, NoQuota: true},
	}
	s3c, cfg, err := s3client.New(ctx, opts, func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, addContentMD5, countRequests)
	})
	if err != nil {
		return nil, fmt.Errorf("object store at %s: %w", describe(ep.URL), err)
	}
	return &s3iam{
		s3:       s3c,
		iam:      iam.NewFromConfig(cfg, func(o *iam.Options) { o.APIOptions = append(o.APIOptions, countRequests) }),
		sts:      sts.NewFromConfig(cfg, func(o *sts.Options) { o.APIOptions = append(o.APIOptions, countRequests) }),
		where:    describe(ep.URL),
		region:   cfg.Region,
		endpoint: ep.URL,
	}, nil
}

func describe(endpointURL string) string {
	if endpointURL == "" {
		return "AWS"
	}
	return endpointURL
}

func newHTTPClient(ep Endpoint) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = tlsHandshakeTimeout
	tr.ResponseHeaderTimeout = responseHeaderTimeout
	tr.IdleConnTimeout = 30 * time.Second
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if len(ep.CABundle) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(ep.CABundle) {
			return nil, invalidf("the CA bundle for the object store at %s holds no PEM certificate", describe(ep.URL))
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr, Timeout: requestTimeout}, nil
}

// Requests counts every request sent to an object store, each retry too, by API ("S3", "IAM")
// and operation. Register it where the process exposes metrics.
var Requests = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "telemetrylake_store_requests_total",
	Help: "Requests the operator sent to object stores, retries included, by API and operation.",
}, []string{"api", "operation"})

// RequestDuration is how long each request to an object store took, each retry on its own, by
// API. A store that slows down as it grows shows here first: SeaweedFS's embedded IAM went from
// ~9 ms a call at ~100 IAM users to 1.3-2.6 s at ~220 (issue 13), which only the lakes' Ready
// times showed before. Register it where the process exposes metrics.
var RequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "telemetrylake_store_request_duration_seconds",
	Help:    "How long the operator's requests to object stores took, each retry on its own, by API.",
	Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
}, []string{"api"})

// countRequests counts and times each attempt: it sits after the SDK's retry loop.
func countRequests(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("TelemetryLakeCountRequests",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			api := awsmiddleware.GetServiceID(ctx)
			Requests.WithLabelValues(api, middleware.GetOperationName(ctx)).Inc()
			start := time.Now()
			defer func() { RequestDuration.WithLabelValues(api).Observe(time.Since(start).Seconds()) }()
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

// addContentMD5 puts Content-MD5 on every S3 request that has a body. The SDK sends a CRC32
// checksum where S3 requires an integrity check (DeleteObjects, PutBucketLifecycleConfiguration,
// PutBucketTagging), but some S3-compatible stores, older Ceph RGW among them, still insist on
// Content-MD5 for those. AWS accepts both.
func addContentMD5(stack *middleware.Stack) error {
	return stack.Build.Add(middleware.BuildMiddlewareFunc("TelemetryLakeContentMD5",
		func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
			req, ok := in.Request.(*smithyhttp.Request)
			if !ok || !req.IsStreamSeekable() || req.GetStream() == nil || req.Header.Get("Content-MD5") != "" {
				return next.HandleBuild(ctx, in)
			}
			h := md5.New()
			n, err := io.Copy(h, req.GetStream())
			if err == nil {
				err = req.RewindStream()
			}
			if err != nil {
				return middleware.BuildOutput{}, middleware.Metadata{}, fmt.Errorf("computing Content-MD5: %w", err)
			}
			if n > 0 {
				req.Header.Set("Content-MD5", base64.StdEncoding.EncodeToString(h.Sum(nil)))
			}
			return next.HandleBuild(ctx, in)
		}), middleware.After)
}
