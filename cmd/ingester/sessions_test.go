package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"google.golang.org/protobuf/proto"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers/provision"
	"github.com/telemetrylake/telemetrylake/lake/s3client"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// TestTheIngesterFollowsItsSessionFileWithoutARestart runs the real binary on the credentials file
// of credentials mode AssumeRole, with sessions the operator's provisioner issues from SeaweedFS's
// STS, and replaces the file as the kubelet does when the operator refreshes the Secret. The
// ingester keeps landing data across a refresh; and it really reads the new file: given another
// tenant's session it is refused within seconds, and given its own again it lands again, all in
// one process.
func TestTheIngesterFollowsItsSessionFileWithoutARestart(t *testing.T) {
	w := harness.StartSeaweedFS(t)
	ctx := context.Background()
	prov, err := provision.NewS3IAM(ctx, provision.Endpoint{URL: w.Endpoint, PathStyle: true, AccessKeyID: w.AccessKey, SecretAccessKey: w.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	role := provision.Role{ARN: w.CreateTenantRole(t, "tenants"), SessionDuration: provision.MinSessionDuration}
	placements := map[string]provision.Placement{}
	for _, name := range []string{"alpha", "beta"} {
		tenant := provision.Tenant{Namespace: "team", Name: name}
		p, err := provision.PlacementFor(provision.BucketPerTenant, "", "", tenant)
		if err != nil {
			t.Fatal(err)
		}
		if err := prov.EnsureStorage(ctx, p, 0); err != nil {
			t.Fatal(err)
		}
		placements[name] = p
	}
	dir := t.TempDir()
	file := filepath.Join(dir, wellknown.SecretKeyCredentialsFile)
	refresh := func(tenant string) {
		t.Helper()
		p := placements[tenant]
		c, err := prov.AssumeTenantRole(ctx, p.Owner, p, role)
		if err != nil {
			t.Fatal(err)
		}
		f := s3client.CredentialsFile{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, Expiration: &c.Expires}
		tmp := filepath.Join(dir, ".tmp")
		if err := os.WriteFile(tmp, f.Encode(), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil { // atomic, as the kubelet's swap of ..data
			t.Fatal(err)
		}
	}
	refresh("alpha")
	bucket := placements["alpha"].Bucket
	storage := fmt.Sprintf("s3://%s/?endpoint=%s&path_style=true&region=us-east-1", bucket, url.QueryEscape(w.Endpoint))
	ing := harness.StartIngesterProcess(t, harness.BuildIngester(t), storage, nil,
		wellknown.EnvStorageCredentialsFile+"="+file, "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=")
	admin := w.S3Client(t, w.AccessKey, w.SecretKey)
	objects := func() int {
		out, err := admin.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatal(err)
		}
		return int(aws.ToInt32(out.KeyCount))
	}
	n := 0
	send := func() int {
		n++
		body, err := proto.Marshal(&collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{
			LogRecords: []*logspb.LogRecord{{TimeUnixNano: uint64(time.Now().UnixNano()), Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: fmt.Sprintf("record %d", n)}}}},
		}}}}})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(ing.URL+"/v1/logs", "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	waitLanding := func(what string) {
		t.Helper()
		before := objects()
		harness.WaitFor(t, 30*time.Second, what, func() bool { return send() == http.StatusOK && objects() > before })
	}

	waitLanding("the first session to land data")
	refresh("alpha")
	for i := range 12 { // across the refresh (s3client reads the file again every 10 s), every request lands
		if code := send(); code != http.StatusOK {
			t.Fatalf("request %d after a refresh: HTTP %d", i, code)
		}
		time.Sleep(time.Second)
	}
	waitLanding("data to land after the refresh")
	refresh("beta")
	harness.WaitFor(t, 30*time.Second, "the other tenant's session in the file to be used, and refused", func() bool { return send() != http.StatusOK })
	refresh("alpha")
	waitLanding("the tenant's own session, back in the file, to land data again in the same process")
	if ing.Cmd.ProcessState != nil {
		t.Fatalf("the ingester exited: %v", ing.Cmd.ProcessState)
	}
}
