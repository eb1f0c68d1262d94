package harness

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TenantRolePolicy is what a platform admin grants the one role that a LakeStorageClass with
// credentials mode AssumeRole names: everything on every bucket. Each tenant's session is
// narrowed to its own bucket or prefix by the session policy the operator sends, so that the
// test shows the narrowing is the session policy's doing, not the role's.
const TenantRolePolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}]}`

// CreateTenantRole creates, with the admin credentials, the role name that the admin may assume
// (any principal, as SeaweedFS's own examples do) with TenantRolePolicy attached, and returns
// its ARN: the platform admin's one-time setup for credentials mode AssumeRole.
func (s *SeaweedFS) CreateTenantRole(t testing.TB, name string) string {
	t.Helper()
	ctx := context.Background()
	admin := s.IAMClient(t)
	role, err := admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}`)})
	if err != nil {
		t.Fatalf("harness: CreateRole %s: %v", name, err)
	}
	policy, err := admin.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(name + "-policy"), PolicyDocument: aws.String(TenantRolePolicy)})
	if err != nil {
		t.Fatalf("harness: CreatePolicy for role %s: %v", name, err)
	}
	if _, err := admin.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: role.Role.RoleName, PolicyArn: policy.Policy.Arn}); err != nil {
		t.Fatalf("harness: AttachRolePolicy %s: %v", name, err)
	}
	return aws.ToString(role.Role.Arn)
}

// SessionS3Client is S3Client for an STS session's temporary credentials.
func (s *SeaweedFS) SessionS3Client(t testing.TB, accessKey, secretKey, sessionToken string) *s3.Client {
	t.Helper()
	return s.newS3Client(accessKey, secretKey, func(o *s3.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider(accessKey, secretKey, sessionToken)
	})
}

// IAMUserCount is how many IAM users the store has: a class with credentials mode AssumeRole must
// never add one.
func (s *SeaweedFS) IAMUserCount(t testing.TB) int {
	t.Helper()
	n := 0
	pages := iam.NewListUsersPaginator(s.IAMClient(t), &iam.ListUsersInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			t.Fatalf("harness: ListUsers: %v", err)
		}
		n += len(page.Users)
	}
	return n
}
