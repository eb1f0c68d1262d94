package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

func TestSeaweedFSConditionalPutAndRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sw := StartSeaweedFS(t)
	sw.CreateBucket(t, "blocks")
	c := sw.S3Client(t, sw.AccessKey, sw.SecretKey)

	put := func() error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{
			Bucket:      aws.String("blocks"),
			Key:         aws.String("a/b/object-1"),
			Body:        bytes.NewReader([]byte("hello, seaweed")),
			IfNoneMatch: aws.String("*"),
		})
		return err
	}
	if err := put(); err != nil {
		t.Fatalf("first conditional PutObject: %v\n%s", err, sw.LogTail())
	}
	err := put()
	if err == nil {
		t.Fatal("second PutObject with If-None-Match: * succeeded; want 412")
	}
	if got := HTTPStatus(err); got != http.StatusPreconditionFailed {
		t.Fatalf("second PutObject: status %d (%v); want 412", got, err)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		t.Logf("second PutObject failed as expected: %s: %s", apiErr.ErrorCode(), apiErr.ErrorMessage())
	}

	sw.Stop(t)
	if sw.Running() {
		t.Fatal("Running() after Stop")
	}
	quick := sw.newS3Client(sw.AccessKey, sw.SecretKey, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	if _, err := quick.ListBuckets(ctx, &s3.ListBucketsInput{}); err == nil {
		t.Fatal("ListBuckets succeeded while weed is stopped")
	} else if HTTPStatus(err) != 0 {
		t.Fatalf("ListBuckets while stopped: got HTTP %d, want a connection error: %v", HTTPStatus(err), err)
	}

	sw.Start(t)
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("blocks"), Key: aws.String("a/b/object-1")})
	if err != nil {
		t.Fatalf("GetObject after restart: %v\n%s", err, sw.LogTail())
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != "hello, seaweed" {
		t.Fatalf("GetObject after restart = %q", body)
	}
	// The precondition still holds against the restarted server.
	if err := put(); HTTPStatus(err) != http.StatusPreconditionFailed {
		t.Fatalf("conditional PutObject after restart: %v; want 412", err)
	}
}

func TestSeaweedFSIAMUserPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sw := StartSeaweedFS(t)
	sw.CreateBucket(t, "bucket-a")
	sw.CreateBucket(t, "bucket-b")

	ic := sw.IAMClient(t)
	if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("writer")}); err != nil {
		t.Fatalf("CreateUser: %v\n%s", err, sw.LogTail())
	}
	policy, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect":   "Allow",
			"Action":   []string{"s3:PutObject", "s3:GetObject", "s3:ListBucket"},
			"Resource": []string{"arn:aws:s3:::bucket-a", "arn:aws:s3:::bucket-a/*"},
		}},
	})
	if _, err := ic.PutUserPolicy(ctx, &iam.PutUserPolicyInput{
		UserName:       aws.String("writer"),
		PolicyName:     aws.String("bucket-a-rw"),
		PolicyDocument: aws.String(string(policy)),
	}); err != nil {
		t.Fatalf("PutUserPolicy: %v", err)
	}
	key, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("writer")})
	if err != nil {
		t.Fatalf("CreateAccessKey: %v", err)
	}
	uc := sw.S3Client(t, *key.AccessKey.AccessKeyId, *key.AccessKey.SecretAccessKey)

	put := func(bucket string) error {
		_, err := uc.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(bucket),
			Key:    aws.String("x"),
			Body:   strings.NewReader("data"),
		})
		return err
	}
	// No retry needed: the embedded IAM API reloads the gateway's in-memory
	// identities synchronously after every mutation (see EmbeddedIamApi in
	// weed/s3api/s3api_embedded_iam.go), so the key works as soon as
	// CreateAccessKey has returned.
	if err := put("bucket-a"); err != nil {
		t.Fatalf("PutObject into bucket-a with the user's key: %v\n%s", err, sw.LogTail())
	}

	err = put("bucket-b")
	if err == nil {
		t.Fatal("PutObject into bucket-b with the user's key succeeded; want 403 AccessDenied")
	}
	var apiErr smithy.APIError
	if HTTPStatus(err) != http.StatusForbidden || !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDenied" {
		t.Fatalf("PutObject into bucket-b: %v; want HTTP 403 AccessDenied", err)
	}
	t.Logf("PutObject into bucket-b denied as expected: %s: %s", apiErr.ErrorCode(), apiErr.ErrorMessage())
}
