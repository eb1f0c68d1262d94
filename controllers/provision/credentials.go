package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// policyName is the one inline policy of a tenant's IAM user.
const policyName = "telemetrylake"

func (s *s3iam) EnsureCredentials(ctx context.Context, t Tenant, p Placement, existing *Credentials) (Credentials, error) {
	return s.ensureKey(ctx, t, p, UserName(t), policyFor(p), existing)
}

func (s *s3iam) EnsureReadOnlyCredentials(ctx context.Context, t Tenant, p Placement, existing *Credentials) (Credentials, error) {
	return s.ensureKey(ctx, t, p, ReadOnlyUserName(t), readOnlyPolicyFor(p), existing)
}

// ensureKey makes sure IAM user user exists for t with policy as its one inline policy, and
// returns its one access key.
func (s *s3iam) ensureKey(ctx context.Context, t Tenant, p Placement, user string, policy policyDocument, existing *Credentials) (Credentials, error) {
	if err := checkPlacement(p); err != nil {
		return Credentials{}, err
	}
	if p.Owner != t {
		return Credentials{}, invalidf("placement %s was made for tenant %s, not %s", p, p.Owner, t)
	}
	if existing == nil {
		// Nothing was provisioned for this user yet, so it most likely does not exist: creating
		// it straight away makes a new tenant's user in four calls instead of eight (no GetUser,
		// ListUserTags, ListUserPolicies or ListAccessKeys). That matters where IAM is the
		// limit: SeaweedFS's embedded IAM loads every user's record on each call under one lock
		// (reads too), so onboarding N tenants costs O(N²) there, and AWS rate-limits IAM calls.
		created, err := s.createUser(ctx, t, user)
		if err != nil {
			return Credentials{}, err
		}
		if created {
			return s.initUser(ctx, user, policy)
		}
	} else if err := s.ensureUser(ctx, t, user); err != nil {
		return Credentials{}, err
	}
	if err := s.claimUser(ctx, t, user); err != nil {
		return Credentials{}, err
	}
	// The policy goes in before a key is handed out, so no key ever works with a stale one.
	if err := s.ensurePolicy(ctx, user, policy); err != nil {
		return Credentials{}, err
	}
	return s.ensureAccessKey(ctx, user, existing)
}

// initUser gives a user this call has just created its policy and its first key: a new user
// has neither inline policies nor keys, so nothing needs listing first.
func (s *s3iam) initUser(ctx context.Context, user string, policy policyDocument) (Credentials, error) {
	if err := s.putPolicy(ctx, user, policy); err != nil {
		return Credentials{}, err
	}
	return s.createAccessKey(ctx, user)
}

func (s *s3iam) RevokeCredentials(ctx context.Context, t Tenant) error {
	for _, user := range []string{UserName(t), ReadOnlyUserName(t)} {
		if err := s.revokeUser(ctx, t, user); err != nil {
			return err
		}
	}
	return nil
}

func (s *s3iam) RevokeReadOnlyCredentials(ctx context.Context, t Tenant) error {
	return s.revokeUser(ctx, t, ReadOnlyUserName(t))
}

// revokeUser deletes user's access keys, its inline policies and the user, unless it is gone or
// another tenant's.
func (s *s3iam) revokeUser(ctx context.Context, t Tenant, user string) error {
	_, err := s.iam.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(user)})
	if isCode(err, "NoSuchEntity") {
		return nil
	}
	if err != nil {
		return s.fail(call{"IAM", "GetUser", userTarget(user), "iam:GetUser"}, err, "")
	}
	owner, err := s.userOwner(ctx, user)
	if err != nil {
		return err
	}
	if owner != "" && owner != t.String() {
		// Another tenant's user of the same name: this tenant never had one (EnsureCredentials
		// refused it), so there is nothing of its to revoke.
		return nil
	}
	keys, err := s.accessKeys(ctx, user)
	if err != nil {
		return err
	}
	for _, id := range keys {
		if err := s.deleteAccessKey(ctx, user, id); err != nil {
			return err
		}
	}
	policies, err := s.inlinePolicies(ctx, user)
	if err != nil {
		return err
	}
	for _, name := range policies {
		if err := s.deleteInlinePolicy(ctx, user, name); err != nil {
			return err
		}
	}
	_, err = s.iam.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String(user)})
	switch {
	case err == nil || isCode(err, "NoSuchEntity"):
		return nil
	case isCode(err, "DeleteConflict"):
		return s.fail(call{"IAM", "DeleteUser", userTarget(user), "iam:DeleteUser"}, err,
			"TelemetryLake removes only the access keys and inline policy it made; detach the user's managed policies and remove it from its groups, and the operator will retry")
	default:
		return s.fail(call{"IAM", "DeleteUser", userTarget(user), "iam:DeleteUser"}, err, "")
	}
}

func userTarget(user string) string { return fmt.Sprintf("user %q", user) }

// ensureUser creates the tenant's IAM user if it is missing. claimUser then makes sure it is
// the tenant's.
func (s *s3iam) ensureUser(ctx context.Context, t Tenant, user string) error {
	_, err := s.iam.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(user)})
	switch {
	case err == nil:
		return nil
	case isCode(err, "NoSuchEntity"):
		_, err := s.createUser(ctx, t, user)
		return err
	default:
		return s.fail(call{"IAM", "GetUser", userTarget(user), "iam:GetUser"}, err, "")
	}
}

// createUser creates the tenant's IAM user, tagged with the tenant. It reports false, with no
// error, if the user already exists (made earlier, by a concurrent call, or by someone else):
// claimUser sorts out whose it is.
func (s *s3iam) createUser(ctx context.Context, t Tenant, user string) (bool, error) {
	_, err := s.iam.CreateUser(ctx, &iam.CreateUserInput{
		UserName: aws.String(user),
		// On AWS the tag is part of the creation, so no user of ours is ever untagged there.
		Tags: []iamtypes.Tag{{Key: aws.String(ownerTag), Value: aws.String(t.String())}},
	})
	switch {
	case err == nil:
	case isCode(err, "EntityAlreadyExists"):
		return false, nil
	default:
		return false, s.fail(call{"IAM", "CreateUser", userTarget(user), "iam:CreateUser and iam:TagUser"}, err, "")
	}
	// Stores that ignore tags on CreateUser (SeaweedFS) need them set apart; on AWS this
	// rewrites the same tag. Without it, a later tenant with the same user name would adopt
	// this one's user as untagged.
	if err := s.tagUser(ctx, t, user); err != nil {
		return false, err
	}
	return true, nil
}

// claimUser tags the user with its tenant, or fails with ErrConflict if it is another tenant's.
// An untagged user is adopted, as stores that ignore tags on CreateUser (SeaweedFS) leave it so.
func (s *s3iam) claimUser(ctx context.Context, t Tenant, user string) error {
	owner, err := s.userOwner(ctx, user)
	switch {
	case err != nil:
		return err
	case owner == t.String():
		return nil
	case owner != "":
		return &provisionError{kind: ErrConflict, msg: fmt.Sprintf(
			"IAM user %q at %s belongs to tenant %s, not %s: both TelemetryLakes give the same user name (tl-<namespace>-<name>); rename one of them",
			user, s.where, owner, t)}
	}
	return s.tagUser(ctx, t, user)
}

// tagUser tags the user with its tenant; a store without user tags is left as it is.
func (s *s3iam) tagUser(ctx context.Context, t Tenant, user string) error {
	_, err := s.iam.TagUser(ctx, &iam.TagUserInput{
		UserName: aws.String(user),
		Tags:     []iamtypes.Tag{{Key: aws.String(ownerTag), Value: aws.String(t.String())}},
	})
	if kind, _ := classify(err); err != nil && kind != ErrUnsupported {
		return s.fail(call{"IAM", "TagUser", userTarget(user), "iam:TagUser"}, err, "")
	}
	return nil
}

// userOwner is the tenant a user is tagged for, or "" if none (or the store has no user tags).
func (s *s3iam) userOwner(ctx context.Context, user string) (string, error) {
	pages := iam.NewListUserTagsPaginator(s.iam, &iam.ListUserTagsInput{UserName: aws.String(user)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if kind, _ := classify(err); err != nil && kind == ErrUnsupported {
			return "", nil
		}
		if err != nil {
			return "", s.fail(call{"IAM", "ListUserTags", userTarget(user), "iam:ListUserTags"}, err, "")
		}
		for _, tag := range page.Tags {
			if aws.ToString(tag.Key) == ownerTag {
				return aws.ToString(tag.Value), nil
			}
		}
	}
	return "", nil
}

// ensurePolicy makes want the user's one inline policy, writing it only if it differs.
func (s *s3iam) ensurePolicy(ctx context.Context, user string, want policyDocument) error {
	names, err := s.inlinePolicies(ctx, user)
	if err != nil {
		return err
	}
	// Any other inline policy was added behind our back and could grant more than the
	// tenant's own objects.
	for _, name := range names {
		if name == policyName {
			continue
		}
		if err := s.deleteInlinePolicy(ctx, user, name); err != nil {
			return err
		}
	}
	if slices.Contains(names, policyName) {
		out, err := s.iam.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String(policyName)})
		if err != nil && !isCode(err, "NoSuchEntity") {
			return s.fail(call{"IAM", "GetUserPolicy", userTarget(user), "iam:GetUserPolicy"}, err, "")
		}
		if err == nil && samePolicy(aws.ToString(out.PolicyDocument), want) {
			return nil
		}
	}
	return s.putPolicy(ctx, user, want)
}

// putPolicy writes want as the user's one inline policy.
func (s *s3iam) putPolicy(ctx context.Context, user string, want policyDocument) error {
	doc, err := json.Marshal(want)
	if err != nil { // cannot happen: the document is plain strings
		return &provisionError{kind: ErrInvalid, msg: fmt.Sprintf("encoding the policy of user %q: %v", user, err), cause: err}
	}
	_, err = s.iam.PutUserPolicy(ctx, &iam.PutUserPolicyInput{
		UserName:       aws.String(user),
		PolicyName:     aws.String(policyName),
		PolicyDocument: aws.String(string(doc)),
	})
	if err != nil {
		return s.fail(call{"IAM", "PutUserPolicy", userTarget(user), "iam:PutUserPolicy"}, err, "")
	}
	return nil
}

// ensureAccessKey keeps the caller's key if the user still has it, else makes a new one, and
// deletes every other key of the user. Those are keys that were made but never reached the
// caller (a crash between CreateAccessKey and storing the Secret, or a retried request), or
// keys the caller has replaced; AWS allows only two per user, so they must not pile up.
func (s *s3iam) ensureAccessKey(ctx context.Context, user string, existing *Credentials) (Credentials, error) {
	keys, err := s.accessKeys(ctx, user)
	if err != nil {
		return Credentials{}, err
	}
	keep := ""
	if existing != nil && existing.SecretAccessKey != "" && (existing.UserName == "" || existing.UserName == user) &&
		slices.Contains(keys, existing.AccessKeyID) {
		keep = existing.AccessKeyID
	}
	for _, id := range keys {
		if id == keep {
			continue
		}
		if err := s.deleteAccessKey(ctx, user, id); err != nil {
			return Credentials{}, err
		}
	}
	if keep != "" {
		return Credentials{AccessKeyID: keep, SecretAccessKey: existing.SecretAccessKey, UserName: user}, nil
	}
	return s.createAccessKey(ctx, user)
}

// createAccessKey makes a new key for the user.
func (s *s3iam) createAccessKey(ctx context.Context, user string) (Credentials, error) {
	out, err := s.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		return Credentials{}, s.fail(call{"IAM", "CreateAccessKey", userTarget(user), "iam:CreateAccessKey"}, err, "")
	}
	return Credentials{
		AccessKeyID:     aws.ToString(out.AccessKey.AccessKeyId),
		SecretAccessKey: aws.ToString(out.AccessKey.SecretAccessKey),
		UserName:        user,
	}, nil
}

func (s *s3iam) accessKeys(ctx context.Context, user string) ([]string, error) {
	var ids []string
	pages := iam.NewListAccessKeysPaginator(s.iam, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, s.fail(call{"IAM", "ListAccessKeys", userTarget(user), "iam:ListAccessKeys"}, err, "")
		}
		for _, k := range page.AccessKeyMetadata {
			ids = append(ids, aws.ToString(k.AccessKeyId))
		}
	}
	return ids, nil
}

func (s *s3iam) deleteAccessKey(ctx context.Context, user, id string) error {
	_, err := s.iam.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(user), AccessKeyId: aws.String(id)})
	if err != nil && !isCode(err, "NoSuchEntity") {
		return s.fail(call{"IAM", "DeleteAccessKey", fmt.Sprintf("access key %s of user %q", id, user), "iam:DeleteAccessKey"}, err, "")
	}
	return nil
}

func (s *s3iam) inlinePolicies(ctx context.Context, user string) ([]string, error) {
	var names []string
	pages := iam.NewListUserPoliciesPaginator(s.iam, &iam.ListUserPoliciesInput{UserName: aws.String(user)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, s.fail(call{"IAM", "ListUserPolicies", userTarget(user), "iam:ListUserPolicies"}, err, "")
		}
		names = append(names, page.PolicyNames...)
	}
	return names, nil
}

func (s *s3iam) deleteInlinePolicy(ctx context.Context, user, name string) error {
	_, err := s.iam.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String(name)})
	if err != nil && !isCode(err, "NoSuchEntity") {
		return s.fail(call{"IAM", "DeleteUserPolicy", fmt.Sprintf("inline policy %q of user %q", name, user), "iam:DeleteUserPolicy"}, err, "")
	}
	return nil
}

// policyDocument is the subset of the IAM policy language that a tenant's policy uses.
type policyDocument struct {
	Version   string
	Statement []policyStatement
}

type policyStatement struct {
	Sid       string `json:",omitempty"`
	Effect    string
	Action    stringList
	Resource  stringList
	Condition map[string]map[string]stringList `json:",omitempty"`
}

// stringList is a policy value that may be written as one string or as a list of them.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = stringList{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(l))
}

// policyFor allows reading and writing the objects under p, listing them, and deleting what the
// layout lets a tenant delete (the lakehouse's Parquet parts), and nothing else. The ingester
// needs PutObject (with If-None-Match), GetObject (and HeadObject, which S3 authorises as
// GetObject) and ListObjectsV2 under its prefix; the lakehouse's compaction deletes the parts it
// replaced, so that blocks stay undeletable by the tenant's key.
func policyFor(p Placement) policyDocument {
	grants := layout.PolicyResources(p.Prefix)
	var deletable stringList
	for _, pattern := range grants.Deletable {
		deletable = append(deletable, objectARN(p, pattern))
	}
	return policyDocument{
		Version: "2012-10-17",
		Statement: []policyStatement{{
			Sid:      "ReadWriteOwnObjects",
			Effect:   "Allow",
			Action:   stringList{"s3:PutObject", "s3:GetObject"},
			Resource: stringList{objectARN(p, grants.Objects)},
		}, listStatement(p, grants.Objects), {
			Sid:      "CompactOwnTables",
			Effect:   "Allow",
			Action:   stringList{"s3:DeleteObject"},
			Resource: deletable,
		}},
	}
}

// readOnlyPolicyFor allows reading the objects under p and listing them, and nothing else: what
// lakehouse serve needs (GetObject, with HeadObject and ranged reads, and ListObjectsV2) to answer
// queries. A query server never writes, so the key it holds cannot create, overwrite or delete
// a tenant's data.
func readOnlyPolicyFor(p Placement) policyDocument {
	objects := layout.ReadOnlyResources(p.Prefix)
	return policyDocument{
		Version: "2012-10-17",
		Statement: []policyStatement{{
			Sid:      "ReadOwnObjects",
			Effect:   "Allow",
			Action:   stringList{"s3:GetObject"},
			Resource: stringList{objectARN(p, objects)},
		}, listStatement(p, objects)},
	}
}

func objectARN(p Placement, pattern string) string { return "arn:aws:s3:::" + p.Bucket + "/" + pattern }

// listStatement allows listing the objects that objects matches: the whole bucket of a tenant's
// own, or, in a shared bucket, only under the tenant's prefix (the s3:prefix condition; without
// it the ListBucket grant covers every prefix).
func listStatement(p Placement, objects string) policyStatement {
	list := policyStatement{
		Sid:      "ListOwnObjects",
		Effect:   "Allow",
		Action:   stringList{"s3:ListBucket"},
		Resource: stringList{"arn:aws:s3:::" + p.Bucket},
	}
	if p.Prefix != "" {
		list.Condition = map[string]map[string]stringList{"StringLike": {"s3:prefix": {objects}}}
	}
	return list
}

// samePolicy reports whether the document IAM returned grants what want grants. Stores return
// it in their own spelling: AWS URL-encodes it, SeaweedFS re-marshals it, either may write a
// one-element list as a string or reorder it. Statement ids do not matter.
func samePolicy(got string, want policyDocument) bool {
	if !strings.HasPrefix(strings.TrimSpace(got), "{") {
		if unescaped, err := url.PathUnescape(got); err == nil {
			got = unescaped
		}
	}
	var doc policyDocument
	if err := json.Unmarshal([]byte(got), &doc); err != nil {
		return false
	}
	return reflect.DeepEqual(normalizePolicy(doc), normalizePolicy(want))
}

func normalizePolicy(doc policyDocument) []string {
	statements := make([]string, len(doc.Statement))
	for i, st := range doc.Statement {
		st.Sid = ""
		st.Action = sortedCopy(st.Action)
		st.Resource = sortedCopy(st.Resource)
		var cond map[string]map[string]stringList
		for op, byKey := range st.Condition {
			for k, v := range byKey {
				if cond == nil {
					cond = map[string]map[string]stringList{}
				}
				if cond[op] == nil {
					cond[op] = map[string]stringList{}
				}
				cond[op][k] = sortedCopy(v)
			}
		}
		st.Condition = cond
		b, _ := json.Marshal(st) // map keys are marshalled in sorted order
		statements[i] = string(b)
	}
	sort.Strings(statements)
	return append(statements, "Version:"+doc.Version)
}

func sortedCopy(l stringList) stringList {
	c := slices.Clone(l)
	sort.Strings(c)
	return c
}
