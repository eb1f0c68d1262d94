package provision

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/telemetrylake/telemetrylake/test/harness"
)

// startStore starts a SeaweedFS for the test and returns it with a provisioner that uses its
// admin credentials, and the recorder of that provisioner's requests.
func startStore(t *testing.T) (*harness.SeaweedFS, BucketProvisioner, *recorder) {
	t.Helper()
	sw := harness.StartSeaweedFS(t)
	p := newProvisioner(t, Endpoint{URL: sw.Endpoint, PathStyle: true, AccessKeyID: sw.AccessKey, SecretAccessKey: sw.SecretKey})
	return sw, p, record(p)
}

func newProvisioner(t *testing.T, ep Endpoint) BucketProvisioner {
	t.Helper()
	p, err := NewS3IAM(context.Background(), ep)
	if err != nil {
		t.Fatalf("NewS3IAM: %v", err)
	}
	return p
}

// neighbourCase is a tenant and a neighbour whose objects the tenant's credentials must not
// reach, placed in one mode; neighbourCases are both modes, in the bucket "lake-shared".
type neighbourCase struct {
	name          string
	mode          string
	tenant, other Tenant
}

var neighbourCases = []neighbourCase{
	{"a tenant with a bucket of its own", BucketPerTenant, Tenant{"team-a", "lake"}, Tenant{"team-b", "lake"}},
	{"a tenant with a prefix of a shared bucket", SharedBucket, Tenant{"team-c", "lake"}, Tenant{"team-d", "lake"}},
}

// provisionBoth places the tenant and its neighbour and provisions both placements' storage.
func (tc neighbourCase) provisionBoth(t *testing.T, prov BucketProvisioner) (p, other Placement) {
	t.Helper()
	p = placement(t, tc.mode, "lake-shared", tc.tenant)
	other = placement(t, tc.mode, "lake-shared", tc.other)
	for _, pl := range []Placement{p, other} {
		if err := prov.EnsureStorage(context.Background(), pl, 0); err != nil {
			t.Fatal(err)
		}
	}
	return p, other
}

func placement(t *testing.T, mode, sharedBucket string, tenant Tenant) Placement {
	t.Helper()
	p, err := PlacementFor(mode, "", sharedBucket, tenant)
	if err != nil {
		t.Fatalf("PlacementFor(%s, %s): %v", mode, tenant, err)
	}
	return p
}

// recorder sits between the provisioner's SDK clients and the real store and notes each
// request's operation, so tests can tell whether a call wrote anything.
type recorder struct {
	next interface {
		Do(*http.Request) (*http.Response, error)
	}
	mu  sync.Mutex
	ops []string
	// md5 maps each S3 request with a body to whether it carried a correct Content-MD5.
	md5 map[string]bool
}

func record(p BucketProvisioner) *recorder {
	s := p.(*s3iam)
	rec := &recorder{}
	s.s3 = s3.New(s.s3.Options(), func(o *s3.Options) {
		rec.next = o.HTTPClient
		o.HTTPClient = rec
	})
	s.iam = iam.New(s.iam.Options(), func(o *iam.Options) { o.HTTPClient = rec })
	return rec
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	op := "S3 " + req.Method + " " + req.URL.Path
	if req.URL.RawQuery != "" {
		q := req.URL.Query()
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		op += "?" + strings.Join(keys, "&")
	}
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	isIAM := false
	// IAM is a query API: every call is a POST of a form naming its Action.
	if req.Method == http.MethodPost && strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		form, _ := url.ParseQuery(string(body))
		op, isIAM = "IAM "+form.Get("Action"), true
	}
	r.mu.Lock()
	r.ops = append(r.ops, op)
	if len(body) > 0 && !isIAM {
		sum := md5.Sum(body)
		if r.md5 == nil {
			r.md5 = map[string]bool{}
		}
		r.md5[op] = req.Header.Get("Content-MD5") == base64.StdEncoding.EncodeToString(sum[:])
	}
	r.mu.Unlock()
	return r.next.Do(req)
}

// reset forgets what was recorded so far.
func (r *recorder) reset() {
	r.mu.Lock()
	r.ops = nil
	r.mu.Unlock()
}

// writes returns the recorded requests that may change something.
func (r *recorder) writes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var w []string
	for _, op := range r.ops {
		read := strings.HasPrefix(op, "S3 GET ") || strings.HasPrefix(op, "S3 HEAD ") ||
			strings.HasPrefix(op, "IAM Get") || strings.HasPrefix(op, "IAM List")
		if !read {
			w = append(w, op)
		}
	}
	return w
}

// iamOps returns the recorded IAM calls, in order.
func (r *recorder) iamOps() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ops []string
	for _, op := range r.ops {
		if strings.HasPrefix(op, "IAM ") {
			ops = append(ops, op)
		}
	}
	return ops
}

// usedIAM reports whether any recorded request went to the IAM API.
func (r *recorder) usedIAM() bool { return len(r.iamOps()) > 0 }

var ctx = context.Background()

func putObject(c *s3.Client, bucket, key string) error {
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("data")})
	return err
}

func getObject(c *s3.Client, bucket, key string) error {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err == nil {
		out.Body.Close()
	}
	return err
}

func listObjects(c *s3.Client, bucket, prefix string) ([]string, error) {
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys, nil
}

func bucketExists(t *testing.T, c *s3.Client, bucket string) bool {
	t.Helper()
	_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	if err == nil {
		return true
	}
	if harness.HTTPStatus(err) == http.StatusNotFound {
		return false
	}
	t.Fatalf("HeadBucket %s: %v", bucket, err)
	return false
}

func lifecycleRules(t *testing.T, c *s3.Client, bucket string) []types.LifecycleRule {
	t.Helper()
	out, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(bucket)})
	if errorCode(err) == "NoSuchLifecycleConfiguration" {
		return nil
	}
	if err != nil {
		t.Fatalf("GetBucketLifecycleConfiguration %s: %v", bucket, err)
	}
	return out.Rules
}

// accessKeyIDs lists a user's access keys as the admin sees them in IAM.
func accessKeyIDs(t *testing.T, sw *harness.SeaweedFS, user string) []string {
	t.Helper()
	out, err := sw.IAMClient(t).ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatalf("ListAccessKeys %s: %v", user, err)
	}
	var ids []string
	for _, k := range out.AccessKeyMetadata {
		ids = append(ids, aws.ToString(k.AccessKeyId))
	}
	return ids
}

// wantDenied fails unless err is the store's 403.
func wantDenied(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s succeeded; want 403", what)
		return
	}
	if harness.HTTPStatus(err) != http.StatusForbidden {
		t.Errorf("%s: %v; want 403", what, err)
	}
}

func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: got %v; want an error matching %v", what, err, kind)
	}
	t.Logf("%s: %v", what, err)
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
