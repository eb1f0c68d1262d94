package s3client

import (
	"context"
	"net/http"
	"testing"
)

// The operator's admin credentials and CA bundle come from a LakeStorageClass; an AWS_* variable
// in its pod must not change how it reaches the store, let alone break it.
func TestStaticCredentialsReadNothingFromTheEnvironment(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "/nonexistent/ca.pem")
	t.Setenv("AWS_REGION", "eu-west-3")
	_, cfg, err := New(context.Background(), Options{
		Endpoint:    "http://127.0.0.1:8333",
		AccessKeyID: "admin", SecretAccessKey: "secret",
		HTTPClient: &http.Client{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != DefaultRegion || cfg.BaseEndpoint == nil || *cfg.BaseEndpoint != "http://127.0.0.1:8333" {
		t.Errorf("region %s, endpoint %v", cfg.Region, cfg.BaseEndpoint)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "admin" {
		t.Errorf("credentials %+v, %v", creds, err)
	}
}

// A workload (the ingester) is given its store's CA as AWS_CA_BUNDLE and its keys as
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
func TestWithoutStaticCredentialsTheEnvironmentIsRead(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "/nonexistent/ca.pem")
	if _, _, err := New(context.Background(), Options{}); err == nil {
		t.Error("AWS_CA_BUNDLE naming a missing file was not read")
	}
	t.Setenv("AWS_CA_BUNDLE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "tenant")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	_, cfg, err := New(context.Background(), Options{Region: "eu-west-3"})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "tenant" || cfg.Region != "eu-west-3" {
		t.Errorf("credentials %+v, %v, region %s", creds, err, cfg.Region)
	}
}
