package s3client_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/lake/s3client"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// A workload given a credentials file (credentials mode AssumeRole) follows the file as the
// kubelet replaces it, without a restart: a session of another tenant in the file is refused
// within seconds, and the tenant's own again is used within seconds, on the same client.
func TestTheCredentialsFileIsFollowedAsItIsReplaced(t *testing.T) {
	w := harness.StartSeaweedFS(t)
	w.CreateBucket(t, "tl-alpha")
	w.CreateBucket(t, "tl-beta")
	role := w.CreateTenantRole(t, "tenants")
	dir := t.TempDir()
	file := filepath.Join(dir, wellknown.SecretKeyCredentialsFile)
	write := func(bucket string) {
		t.Helper()
		c := session(t, w, role, bucket)
		// As the kubelet's atomic writer does: a new file, then a rename over the old.
		tmp := filepath.Join(dir, ".tmp")
		if err := os.WriteFile(tmp, c.Encode(), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	write("tl-alpha")
	t.Setenv(wellknown.EnvStorageCredentialsFile, file)
	t.Setenv("AWS_ACCESS_KEY_ID", w.AccessKey) // must be ignored: the file names the credentials
	t.Setenv("AWS_SECRET_ACCESS_KEY", w.SecretKey)
	client, _, err := s3client.New(context.Background(), s3client.Options{Endpoint: w.Endpoint, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	put := func() error {
		_, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("tl-alpha"), Key: aws.String("probe"), Body: strings.NewReader("x")})
		return err
	}
	if err := put(); err != nil {
		t.Fatalf("writing with the tenant's session from the file: %v", err)
	}
	write("tl-beta")
	waitFor(t, "the other tenant's session in the file to be used (and refused)", func() bool { return harness.HTTPStatus(put()) == 403 })
	write("tl-alpha")
	waitFor(t, "the tenant's new session in the file to be used", func() bool { return put() == nil })

	t.Run("a missing file fails at start, naming the variable", func(t *testing.T) {
		t.Setenv(wellknown.EnvStorageCredentialsFile, filepath.Join(dir, "missing.json"))
		_, _, err := s3client.New(context.Background(), s3client.Options{Endpoint: w.Endpoint})
		if err == nil || !strings.Contains(err.Error(), wellknown.EnvStorageCredentialsFile) {
			t.Errorf("New with a missing credentials file: %v", err)
		}
	})
	t.Run("an expired session says so", func(t *testing.T) {
		past := time.Now().Add(-time.Minute)
		f := s3client.CredentialsFile{AccessKeyID: "a", SecretAccessKey: "b", SessionToken: "c", Expiration: &past}
		expired := filepath.Join(dir, "expired.json")
		if err := os.WriteFile(expired, f.Encode(), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv(wellknown.EnvStorageCredentialsFile, expired)
		_, _, err := s3client.New(context.Background(), s3client.Options{Endpoint: w.Endpoint})
		if err == nil || !strings.Contains(err.Error(), "expired") {
			t.Errorf("New with an expired session: %v", err)
		}
	})
}

// session is an STS session of role narrowed to bucket, as a credentials file.
func session(t *testing.T, w *harness.SeaweedFS, role, bucket string) s3client.CredentialsFile {
	t.Helper()
	c := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(w.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(w.AccessKey, w.SecretKey, "")})
	out, err := c.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String(bucket),
		DurationSeconds: aws.Int32(900),
		Policy:          aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::` + bucket + `/*"]}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	cr := out.Credentials
	return s3client.CredentialsFile{AccessKeyID: aws.ToString(cr.AccessKeyId), SecretAccessKey: aws.ToString(cr.SecretAccessKey),
		SessionToken: aws.ToString(cr.SessionToken), Expiration: cr.Expiration}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
