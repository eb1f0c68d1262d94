package provision

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/telemetrylake/telemetrylake/test/harness"
)

// TestSeaweedFSAssumeRoleWithSessionPolicy is what a credential mode without one IAM user per
// tenant would stand on (issue 13; README, "The operator at a thousand tenants"): the pinned SeaweedFS
// issues short-lived credentials through STS AssumeRole, and an inline session policy narrows them
// to one tenant's bucket. The role is one for all tenants, created once by the platform admin;
// the operator would only call AssumeRole, which writes nothing into the store's IAM.
func TestSeaweedFSAssumeRoleWithSessionPolicy(t *testing.T) {
	w := harness.StartSeaweedFS(t)
	w.CreateBucket(t, "tl-alpha")
	w.CreateBucket(t, "tl-beta")
	ctx := context.Background()

	admin := w.IAMClient(t)
	role, err := admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("telemetrylake-tenant"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}`)})
	if err != nil {
		t.Fatalf("CreateRole: %v", err)
	}
	// The role may write every tenant's bucket; each session gets only its tenant's share.
	all, err := admin.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("telemetrylake-tenants"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::tl-*"]}]}`)})
	if err != nil {
		t.Fatalf("CreatePolicy: %v", err)
	}
	if _, err := admin.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: role.Role.RoleName, PolicyArn: all.Policy.Arn}); err != nil {
		t.Fatalf("AttachRolePolicy: %v", err)
	}

	before, err := admin.ListUsers(ctx, &iam.ListUsersInput{})
	if err != nil {
		t.Fatal(err)
	}
	stsClient := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(w.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(w.AccessKey, w.SecretKey, "")})
	session, err := stsClient.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         role.Role.Arn,
		RoleSessionName: aws.String("alpha"),
		DurationSeconds: aws.Int32(900),
		Policy:          aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject","s3:GetObject"],"Resource":["arn:aws:s3:::tl-alpha/*"]}]}`),
	})
	if err != nil {
		t.Fatalf("AssumeRole with a session policy: %v", err)
	}
	c := session.Credentials
	if c.Expiration == nil || aws.ToString(c.SessionToken) == "" {
		t.Fatalf("the session has no expiry or no token: %+v", c)
	}
	tenant := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(w.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))})
	if _, err := tenant.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tl-alpha"), Key: aws.String("probe"), Body: strings.NewReader("x")}); err != nil {
		t.Errorf("the session cannot write its own bucket: %v", err)
	}
	_, err = tenant.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tl-beta"), Key: aws.String("probe"), Body: strings.NewReader("x")})
	if harness.HTTPStatus(err) != 403 {
		t.Errorf("the session writing another tenant's bucket, which its role may write: %v, want 403 from the session policy", err)
	}
	users, err := admin.ListUsers(ctx, &iam.ListUsersInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(users.Users) != len(before.Users) {
		t.Errorf("IAM had %d users before AssumeRole and %d after, want no new one", len(before.Users), len(users.Users))
	}
}
