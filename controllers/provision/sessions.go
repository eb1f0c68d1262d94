package provision

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// STS bounds of a session's DurationSeconds: AWS's, which the pinned SeaweedFS enforces too
// (weed/s3api/s3api_sts.go, minDurationSeconds and maxDurationSeconds).
const (
	MinSessionDuration = 15 * time.Minute
	MaxSessionDuration = 12 * time.Hour
)

func (s *s3iam) AssumeTenantRole(ctx context.Context, t Tenant, p Placement, role Role) (Credentials, error) {
	return s.assumeRole(ctx, t, p, role, UserName(t), policyFor(p))
}

func (s *s3iam) AssumeReadOnlyTenantRole(ctx context.Context, t Tenant, p Placement, role Role) (Credentials, error) {
	return s.assumeRole(ctx, t, p, role, ReadOnlyUserName(t), readOnlyPolicyFor(p))
}

// assumeRole asks for a session of role named session, narrowed by policy. A session's rights are
// the intersection of the role's policies and the session policy, so policy (the grants an IAM
// user of the tenant would have) is all it can ever do, however much the role may.
func (s *s3iam) assumeRole(ctx context.Context, t Tenant, p Placement, role Role, session string, policy policyDocument) (Credentials, error) {
	if err := checkPlacement(p); err != nil {
		return Credentials{}, err
	}
	if p.Owner != t {
		return Credentials{}, invalidf("placement %s was made for tenant %s, not %s", p, p.Owner, t)
	}
	if role.ARN == "" {
		return Credentials{}, invalidf("the LakeStorageClass of %s assumes a role but names none: set spec.credentials.roleARN", t)
	}
	if role.SessionDuration < MinSessionDuration || role.SessionDuration > MaxSessionDuration {
		return Credentials{}, invalidf("session duration %s of role %s: STS allows %s to %s", role.SessionDuration, role.ARN, MinSessionDuration, MaxSessionDuration)
	}
	doc, err := json.Marshal(policy)
	if err != nil { // cannot happen: the document is plain strings
		return Credentials{}, &provisionError{kind: ErrInvalid, msg: fmt.Sprintf("encoding the session policy of %s: %v", session, err), cause: err}
	}
	out, err := s.sts.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(role.ARN),
		RoleSessionName: aws.String(session),
		DurationSeconds: aws.Int32(int32(role.SessionDuration / time.Second)),
		Policy:          aws.String(string(doc)),
	})
	if err != nil {
		return Credentials{}, s.fail(call{"STS", "AssumeRole", fmt.Sprintf("role %q (session %q)", role.ARN, session), "sts:AssumeRole on the role, and the role a trust policy that lets them assume it"}, err, "")
	}
	c := out.Credentials
	if c == nil || aws.ToString(c.AccessKeyId) == "" || aws.ToString(c.SessionToken) == "" || c.Expiration == nil {
		return Credentials{}, &provisionError{kind: ErrUnsupported, msg: fmt.Sprintf(
			"the STS API at %s answered AssumeRole of role %q without a complete session (access key, session token and expiry): use credentials mode IAMUser for this store", s.where, role.ARN)}
	}
	return Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		Expires:         c.Expiration.UTC(),
	}, nil
}

// RefreshAt is when a session of duration that expires at expires should be replaced: two thirds
// into its lifetime, less a jitter of up to a tenth of it fixed by key (the lake's UID), so that
// lakes onboarded together do not all call STS again in the same second, and a restart does not
// move the time. The third left over (20 minutes of an hour, 5 of the 15-minute minimum) covers
// the kubelet's delay in updating the mounted file (about a minute), the pods' re-read
// (s3client, every 10 s), and a store that is down for a while when the refresh falls due: the
// operator retries with backoff while the old session still works.
func RefreshAt(expires time.Time, duration time.Duration, key string) time.Time {
	sum := sha256.Sum256([]byte(key))
	frac := float64(binary.BigEndian.Uint64(sum[:8])) / (1 << 64)
	return expires.Add(-duration/3 - time.Duration(frac*float64(duration)/10))
}
