package provision

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/telemetrylake/telemetrylake/lake/s3client"
)

// ownerTag, on a bucket of a tenant's own and on its IAM user, holds "<namespace>/<name>" of the
// tenant. The default names join namespace and name with '-', which both may contain
// ("team-a"/"x" and "team"/"a-x" both give "tl-team-a-x"), so the name alone cannot tell whose a
// bucket or user is.
const ownerTag = "lake.telemetrylake.io/tenant"

func (s *s3iam) EnsureStorage(ctx context.Context, p Placement, retentionDays int32) error {
	if err := checkPlacement(p); err != nil {
		return err
	}
	if retentionDays < 0 {
		return invalidf("retention for %s is %d days: it must be 0 (keep forever) or more", p, retentionDays)
	}
	if err := s.ensureBucket(ctx, p); err != nil {
		return err
	}
	return s.ensureRetention(ctx, p, retentionDays)
}

func (s *s3iam) DeleteData(ctx context.Context, p Placement, deleteBucket bool) error {
	if err := checkPlacement(p); err != nil {
		return err
	}
	if deleteBucket && p.Shared() {
		return invalidf("refusing to delete bucket %q: it is shared by all tenants of the storage class; only %s/%s's prefix %q can be deleted", p.Bucket, p.Owner.Namespace, p.Owner.Name, p.Prefix)
	}
	exists, err := s.bucketExists(ctx, p.Bucket)
	if err != nil || !exists {
		return err
	}
	if !p.Shared() {
		owner, err := s.bucketOwner(ctx, p.Bucket)
		if err != nil {
			return err
		}
		if owner != "" && owner != p.Owner.String() {
			// The tenant never had this bucket: EnsureStorage refused it. Nothing of its is here.
			return nil
		}
	}
	if err := s.deleteObjects(ctx, p); err != nil {
		return err
	}
	if p.Shared() {
		// Drop the tenant's rule, or the shared bucket's lifecycle configuration would keep a
		// rule for every tenant that ever existed.
		return s.ensureRetention(ctx, p, 0)
	}
	if !deleteBucket {
		return nil
	}
	_, err = s.s3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(p.Bucket)})
	switch {
	case err == nil || isCode(err, "NoSuchBucket"):
		return nil
	case isCode(err, "BucketNotEmpty"):
		return s.fail(call{"S3", "DeleteBucket", bucketTarget(p.Bucket), "s3:DeleteBucket"}, err,
			"every object was deleted, but the bucket still holds something: object versions or delete markers (versioning is on), or objects written since; delete those, or retry once nothing writes to it")
	default:
		return s.fail(call{"S3", "DeleteBucket", bucketTarget(p.Bucket), "s3:DeleteBucket"}, err, "")
	}
}

func checkPlacement(p Placement) error {
	if reason := checkBucketName(p.Bucket); reason != "" {
		return invalidf("bucket name %q: %s", p.Bucket, reason)
	}
	if p.Owner.Namespace == "" || p.Owner.Name == "" {
		return invalidf("placement %s has no owner: build it with PlacementFor", p)
	}
	if p.Prefix != "" && (!strings.HasSuffix(p.Prefix, "/") || strings.HasPrefix(p.Prefix, "/")) {
		return invalidf("prefix %q of bucket %q must end with '/' and not begin with one", p.Prefix, p.Bucket)
	}
	return nil
}

func bucketTarget(bucket string) string { return fmt.Sprintf("bucket %q", bucket) }

// ensureBucket creates p's bucket when it is the tenant's own, and checks that it exists when
// it is shared (creating a shared bucket is the platform admin's job, with settings of theirs).
func (s *s3iam) ensureBucket(ctx context.Context, p Placement) error {
	exists, err := s.bucketExists(ctx, p.Bucket)
	if err != nil {
		return err
	}
	if !exists && p.Shared() {
		return invalidf("the shared bucket %q does not exist at %s: create it, or fix the shared bucket name in the LakeStorageClass", p.Bucket, s.where)
	}
	if !exists {
		if err := s.createBucket(ctx, p.Bucket); err != nil {
			return err
		}
	}
	if p.Shared() {
		return nil
	}
	return s.claimBucket(ctx, p)
}

func (s *s3iam) bucketExists(ctx context.Context, bucket string) (bool, error) {
	_, err := s.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	switch {
	case err == nil:
		return true, nil
	case httpStatus(err) == http.StatusNotFound || isCode(err, "NotFound", "NoSuchBucket"):
		return false, nil
	case httpStatus(err) == http.StatusForbidden:
		return false, s.fail(call{"S3", "HeadBucket", bucketTarget(bucket), "s3:ListBucket"}, err,
			"the admin credentials in the LakeStorageClass are wrong or need s3:ListBucket on it; on AWS the name may also be taken by another account")
	default:
		return false, s.fail(call{"S3", "HeadBucket", bucketTarget(bucket), "s3:ListBucket"}, err, "")
	}
}

func (s *s3iam) createBucket(ctx context.Context, bucket string) error {
	in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
	// us-east-1 is the one region that must not be named.
	if s.region != s3client.DefaultRegion {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(s.region)}
	}
	_, err := s.s3.CreateBucket(ctx, in)
	switch {
	case err == nil || isCode(err, "BucketAlreadyOwnedByYou"):
		return nil
	case isCode(err, "BucketAlreadyExists"):
		// AWS says this when another account has the name; some stores also say it when a
		// concurrent call of ours created it first, which HeadBucket tells apart.
		if exists, headErr := s.bucketExists(ctx, bucket); headErr == nil && exists {
			return nil
		}
		return s.fail(call{"S3", "CreateBucket", bucketTarget(bucket), "s3:CreateBucket"}, err,
			"the name is taken by another account; change the bucket name template in the LakeStorageClass")
	case isCode(err, "InvalidBucketName"):
		return s.fail(call{"S3", "CreateBucket", bucketTarget(bucket), "s3:CreateBucket"}, err,
			"change the bucket name template in the LakeStorageClass")
	default:
		return s.fail(call{"S3", "CreateBucket", bucketTarget(bucket), "s3:CreateBucket"}, err, "")
	}
}

// claimBucket tags a bucket of the tenant's own with its owner, or fails with ErrConflict if
// another tenant already has it. An untagged bucket is adopted: it was made by us before the
// tag was written, or made by an admin for this tenant.
func (s *s3iam) claimBucket(ctx context.Context, p Placement) error {
	tags, err := s.bucketTags(ctx, p.Bucket)
	if err != nil {
		return err
	}
	if tags == nil {
		return nil // the store cannot tag buckets; see bucketTags
	}
	switch owner := tags[ownerTag]; owner {
	case p.Owner.String():
		return nil
	case "":
	default:
		return &provisionError{kind: ErrConflict, msg: fmt.Sprintf(
			"bucket %q at %s belongs to tenant %s, not %s: the bucket name template renders the same name for both; use a template that keeps them apart, or a SharedBucket class",
			p.Bucket, s.where, owner, p.Owner)}
	}
	tags[ownerTag] = p.Owner.String()
	set := make([]types.Tag, 0, len(tags))
	for k, v := range tags {
		set = append(set, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	_, err = s.s3.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{
		Bucket:  aws.String(p.Bucket),
		Tagging: &types.Tagging{TagSet: set},
	})
	if err != nil {
		return s.fail(call{"S3", "PutBucketTagging", bucketTarget(p.Bucket), "s3:PutBucketTagging"}, err, "")
	}
	return nil
}

// bucketOwner is the tenant a bucket is tagged for, or "" if none (or the store has no tags).
func (s *s3iam) bucketOwner(ctx context.Context, bucket string) (string, error) {
	tags, err := s.bucketTags(ctx, bucket)
	return tags[ownerTag], err
}

// bucketTags returns a bucket's tags (empty, not nil, when it has none), or nil when the store
// does not implement bucket tagging. Such a store cannot record owners, so claimBucket and
// DeleteData go by name alone there, as they must.
func (s *s3iam) bucketTags(ctx context.Context, bucket string) (map[string]string, error) {
	out, err := s.s3.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String(bucket)})
	tags := map[string]string{}
	switch {
	case err == nil:
		for _, t := range out.TagSet {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		return tags, nil
	case isCode(err, "NoSuchTagSet", "NoSuchTagSetError"):
		return tags, nil
	}
	if kind, _ := classify(err); kind == ErrUnsupported {
		return nil, nil
	}
	return nil, s.fail(call{"S3", "GetBucketTagging", bucketTarget(bucket), "s3:GetBucketTagging"}, err, "")
}

// ensureRetention keeps exactly one lifecycle rule of ours for p (none when days is 0) and
// leaves every other rule on the bucket as it is.
func (s *s3iam) ensureRetention(ctx context.Context, p Placement, days int32) error {
	unlock := lockBucket(s.endpoint, p.Bucket)
	defer unlock()

	target := fmt.Sprintf("the retention rule of %s", p)
	out, err := s.s3.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(p.Bucket)})
	if err != nil && !isCode(err, "NoSuchLifecycleConfiguration") {
		return s.lifecycleFail(call{"S3", "GetBucketLifecycleConfiguration", target, "s3:GetLifecycleConfiguration"}, err, days)
	}
	id := retentionRuleID(p)
	var ours *types.LifecycleRule
	var rules []types.LifecycleRule
	if out != nil {
		for _, r := range out.Rules {
			if aws.ToString(r.ID) == id {
				ours = &r
				continue
			}
			rules = append(rules, r)
		}
	}
	if days == 0 && ours == nil || days > 0 && ours != nil && isRetentionRule(*ours, p.Prefix, days) {
		return nil
	}
	if days > 0 {
		rules = append(rules, types.LifecycleRule{
			ID:         aws.String(id),
			Status:     types.ExpirationStatusEnabled,
			Filter:     &types.LifecycleRuleFilter{Prefix: aws.String(p.Prefix)},
			Expiration: &types.LifecycleExpiration{Days: aws.Int32(days)},
		})
	}
	if len(rules) == 0 {
		_, err = s.s3.DeleteBucketLifecycle(ctx, &s3.DeleteBucketLifecycleInput{Bucket: aws.String(p.Bucket)})
		if err != nil && !isCode(err, "NoSuchLifecycleConfiguration") {
			return s.lifecycleFail(call{"S3", "DeleteBucketLifecycle", target, "s3:PutLifecycleConfiguration"}, err, days)
		}
		return nil
	}
	_, err = s.s3.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{
		Bucket:                 aws.String(p.Bucket),
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: rules},
	})
	if err != nil {
		return s.lifecycleFail(call{"S3", "PutBucketLifecycleConfiguration", target, "s3:PutLifecycleConfiguration"}, err, days)
	}
	return nil
}

func (s *s3iam) lifecycleFail(c call, err error, days int32) error {
	hint := ""
	if kind, _ := classify(err); kind == ErrUnsupported {
		hint = fmt.Sprintf("this object store cannot expire objects, so a retention of %d days cannot be enforced; set retention to 0, or use a store with lifecycle rules", days)
	}
	return s.fail(c, err, hint)
}

// retentionRuleID names our rule among the bucket's: one per prefix, so tenants of a shared
// bucket each have their own. S3 allows IDs of up to 255 characters.
func retentionRuleID(p Placement) string {
	id := "telemetrylake-retention"
	if p.Shared() {
		id += ":" + p.Prefix
	}
	return shorten(id, 255, p.Owner)
}

// isRetentionRule reports whether r expires everything under prefix after days days, and does
// nothing else.
func isRetentionRule(r types.LifecycleRule, prefix string, days int32) bool {
	rulePrefix := r.Prefix // the pre-2016 form, still returned by some stores
	if r.Filter != nil {
		if r.Filter.And != nil || r.Filter.Tag != nil || r.Filter.ObjectSizeGreaterThan != nil || r.Filter.ObjectSizeLessThan != nil {
			return false
		}
		rulePrefix = r.Filter.Prefix
	}
	return r.Status == types.ExpirationStatusEnabled &&
		aws.ToString(rulePrefix) == prefix &&
		r.Expiration != nil && aws.ToInt32(r.Expiration.Days) == days && r.Expiration.Date == nil &&
		len(r.Transitions) == 0 && r.NoncurrentVersionExpiration == nil && len(r.NoncurrentVersionTransitions) == 0
}

// bucketLocks serialise the read-modify-write of a bucket's lifecycle configuration. It is one
// document per bucket, and in a shared bucket every tenant's reconcile edits it: two running at
// once (MaxConcurrentReconciles > 1) would each drop the rule the other just added. Leader
// election leaves one operator process acting, so a lock in memory is enough.
var bucketLocks sync.Map // endpoint + "\x00" + bucket -> *sync.Mutex

func lockBucket(endpoint, bucket string) (unlock func()) {
	m, _ := bucketLocks.LoadOrStore(endpoint+"\x00"+bucket, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// deleteObjects deletes every object under p.Prefix, a page (up to 1000 keys) at a time.
func (s *s3iam) deleteObjects(ctx context.Context, p Placement) error {
	target := fmt.Sprintf("the objects under %s", p)
	pages := s3.NewListObjectsV2Paginator(s.s3, &s3.ListObjectsV2Input{
		Bucket: aws.String(p.Bucket),
		Prefix: aws.String(p.Prefix),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if isCode(err, "NoSuchBucket") {
			return nil
		}
		if err != nil {
			return s.fail(call{"S3", "ListObjectsV2", target, "s3:ListBucket"}, err, "")
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]types.ObjectIdentifier, len(page.Contents))
		for i, obj := range page.Contents {
			ids[i] = types.ObjectIdentifier{Key: obj.Key}
		}
		out, err := s.s3.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(p.Bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err == nil && len(out.Errors) > 0 {
			// A partial failure is an answer of 200 listing the keys that failed; report the
			// first as the error it would have been on its own.
			e := out.Errors[0]
			err = &smithy.GenericAPIError{
				Code:    aws.ToString(e.Code),
				Message: fmt.Sprintf("%s (key %q; %d of %d keys failed)", aws.ToString(e.Message), aws.ToString(e.Key), len(out.Errors), len(ids)),
			}
		}
		if err != nil {
			return s.fail(call{"S3", "DeleteObjects", target, "s3:DeleteObject"}, err, "")
		}
	}
	return nil
}
