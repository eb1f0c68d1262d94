package lakehouse

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/lake/s3client"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// In credentials mode AssumeRole the query server and the materialization CronJob get their store
// credentials as an STS session in a mounted file (TELEMETRYLAKE_STORAGE_CREDENTIALS_FILE), token
// included: with its own tenant's session the lakehouse reads the lake, with another tenant's it
// is refused, so the file, not the environment's keys, is what it signs with.
func TestTheLakehouseReadsTheStoreWithTheSessionOfItsCredentialsFile(t *testing.T) {
	w := harness.StartSeaweedFS(t)
	w.CreateBucket(t, "tl-alpha")
	w.CreateBucket(t, "tl-beta")
	role := w.CreateTenantRole(t, "tenants")
	file := filepath.Join(t.TempDir(), wellknown.SecretKeyCredentialsFile)
	t.Setenv(wellknown.EnvStorageCredentialsFile, file)
	t.Setenv("AWS_ACCESS_KEY_ID", w.AccessKey) // ignored: the file names the credentials
	t.Setenv("AWS_SECRET_ACCESS_KEY", w.SecretKey)
	storage := "s3://tl-alpha/?endpoint=" + w.Endpoint + "&region=us-east-1&path_style=true"
	query := func() (int, string) {
		var stdout, stderr strings.Builder
		code := Main(context.Background(), []string{"sql", "--storage", storage, "--cache", t.TempDir(), "SELECT count(*) AS n FROM log_entries"}, &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}

	writeSession(t, w, role, "tl-alpha", file)
	if code, out := query(); code != 0 {
		t.Errorf("with its own tenant's session: exit %d: %s", code, out)
	}
	writeSession(t, w, role, "tl-beta", file)
	if code, out := query(); code == 0 {
		t.Errorf("with another tenant's session the lakehouse read tl-alpha: %s", out)
	}
}

// writeSession writes an STS session of role, narrowed to reading and listing bucket, to file.
func writeSession(t *testing.T, w *harness.SeaweedFS, role, bucket, file string) {
	t.Helper()
	c := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(w.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(w.AccessKey, w.SecretKey, "")})
	out, err := c.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String(bucket),
		DurationSeconds: aws.Int32(900),
		Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::` + bucket + `/*"]},` +
			`{"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::` + bucket + `"]}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	cr := out.Credentials
	f := s3client.CredentialsFile{AccessKeyID: aws.ToString(cr.AccessKeyId), SecretAccessKey: aws.ToString(cr.SecretAccessKey),
		SessionToken: aws.ToString(cr.SessionToken), Expiration: cr.Expiration}
	if err := os.WriteFile(file, f.Encode(), 0o600); err != nil {
		t.Fatal(err)
	}
}
