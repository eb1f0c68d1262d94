package provision

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestEnsureCredentials(t *testing.T) {
	t.Parallel()
	sw, prov, rec := startStore(t)
	sw.CreateBucket(t, "lake-shared")

	for _, tc := range neighbourCases {
		t.Run(tc.name, func(t *testing.T) {
			p, other := tc.provisionBoth(t, prov)
			admin := sw.S3Client(t, sw.AccessKey, sw.SecretKey)
			if err := putObject(admin, other.Bucket, other.Prefix+"secret"); err != nil {
				t.Fatal(err)
			}
			user := UserName(tc.tenant)

			creds, err := prov.EnsureCredentials(ctx, tc.tenant, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if creds.UserName != user || creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
				t.Fatalf("EnsureCredentials returned %+v; want a key of user %s", redact(creds), user)
			}
			key := sw.S3Client(t, creds.AccessKeyID, creds.SecretAccessKey)

			t.Run("the key can put, get and list its own objects", func(t *testing.T) {
				if err := putObject(key, p.Bucket, p.Prefix+"blocks/1"); err != nil {
					t.Fatalf("PutObject: %v", err)
				}
				if err := getObject(key, p.Bucket, p.Prefix+"blocks/1"); err != nil {
					t.Fatalf("GetObject: %v", err)
				}
				keys, err := listObjects(key, p.Bucket, p.Prefix)
				if err != nil || !slices.Contains(keys, p.Prefix+"blocks/1") {
					t.Fatalf("ListObjectsV2 under %q: %v, %v; want blocks/1 listed", p.Prefix, keys, err)
				}
			})

			t.Run("the key is refused the other tenant's objects", func(t *testing.T) {
				wantDenied(t, "PutObject into "+other.String(), putObject(key, other.Bucket, other.Prefix+"x"))
				wantDenied(t, "GetObject from "+other.String(), getObject(key, other.Bucket, other.Prefix+"secret"))
				_, err := listObjects(key, other.Bucket, other.Prefix)
				wantDenied(t, "ListObjectsV2 of "+other.String(), err)
				if other.Shared() {
					// Only the s3:prefix condition keeps the key from listing the whole shared
					// bucket: without it, the ListBucket grant covers every prefix.
					_, err := listObjects(key, other.Bucket, "")
					wantDenied(t, "ListObjectsV2 of the whole shared bucket", err)
				}
			})

			t.Run("the key may delete its own table parts and segments, and nothing else", func(t *testing.T) {
				_, err := key.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(p.Bucket), Key: aws.String(p.Prefix + "blocks/1")})
				wantDenied(t, "DeleteObject of a block", err)
				_, err = key.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(p.Bucket), Key: aws.String(p.Prefix + "processes/1.json")})
				wantDenied(t, "DeleteObject of a process record", err)
				for _, own := range []string{"tables/log_entries/date=2026-11-27/hour=13/p.parquet", "segments/logs/2026-11-27/13/s.seg"} {
					if err := putObject(key, p.Bucket, p.Prefix+own); err != nil {
						t.Fatalf("PutObject of %s: %v", own, err)
					}
					if _, err := key.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(p.Bucket), Key: aws.String(p.Prefix + own)}); err != nil {
						t.Errorf("DeleteObject of its own %s: %v", own, err)
					}
				}
				_, err = key.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(other.Bucket), Key: aws.String(other.Prefix + "tables/x.parquet")})
				wantDenied(t, "DeleteObject of another tenant's part", err)
			})

			t.Run("calling again with the stored key returns it unchanged and writes nothing", func(t *testing.T) {
				rec.reset()
				again, err := prov.EnsureCredentials(ctx, tc.tenant, p, &creds)
				if err != nil {
					t.Fatal(err)
				}
				if again != creds {
					t.Errorf("got key %s; want the stored %s", again.AccessKeyID, creds.AccessKeyID)
				}
				if w := rec.writes(); len(w) > 0 {
					t.Errorf("EnsureCredentials with everything in place wrote %v", w)
				}
			})

			t.Run("a key made but never stored is deleted", func(t *testing.T) {
				// As if an earlier reconcile crashed between CreateAccessKey and writing the Secret.
				orphan, err := sw.IAMClient(t).CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
				if err != nil {
					t.Fatal(err)
				}
				again, err := prov.EnsureCredentials(ctx, tc.tenant, p, &creds)
				if err != nil {
					t.Fatal(err)
				}
				if again != creds {
					t.Errorf("got key %s; want the stored %s", again.AccessKeyID, creds.AccessKeyID)
				}
				if ids := accessKeyIDs(t, sw, user); !slices.Equal(ids, []string{creds.AccessKeyID}) {
					t.Errorf("user %s has keys %v; want only %s", user, ids, creds.AccessKeyID)
				}
				orphanKey := sw.S3Client(t, aws.ToString(orphan.AccessKey.AccessKeyId), aws.ToString(orphan.AccessKey.SecretAccessKey))
				wantDenied(t, "PutObject with the orphaned key", putObject(orphanKey, p.Bucket, p.Prefix+"x"))
			})

			t.Run("a stale key is replaced, and stops working", func(t *testing.T) {
				stale := []*Credentials{
					nil,
					{AccessKeyID: "AKIDNOTKNOWNTOIAM", SecretAccessKey: "x", UserName: user},
				}
				for _, s := range stale {
					old := creds
					got, err := prov.EnsureCredentials(ctx, tc.tenant, p, s)
					if err != nil {
						t.Fatal(err)
					}
					if got.AccessKeyID == old.AccessKeyID {
						t.Fatalf("got the old key %s back for a stale one", got.AccessKeyID)
					}
					if ids := accessKeyIDs(t, sw, user); !slices.Equal(ids, []string{got.AccessKeyID}) {
						t.Errorf("user %s has keys %v; want only the new %s", user, ids, got.AccessKeyID)
					}
					wantDenied(t, "PutObject with the replaced key", putObject(key, p.Bucket, p.Prefix+"x"))
					creds, key = got, sw.S3Client(t, got.AccessKeyID, got.SecretAccessKey)
					if err := putObject(key, p.Bucket, p.Prefix+"blocks/2"); err != nil {
						t.Fatalf("PutObject with the new key: %v", err)
					}
				}
			})
		})
	}

	t.Run("a changed placement rewrites the policy", func(t *testing.T) {
		tenant := Tenant{"team-e", "lake"}
		before := placement(t, BucketPerTenant, "", tenant)
		after := placement(t, SharedBucket, "lake-shared", tenant)
		if err := prov.EnsureStorage(ctx, before, 0); err != nil {
			t.Fatal(err)
		}
		creds, err := prov.EnsureCredentials(ctx, tenant, before, nil)
		if err != nil {
			t.Fatal(err)
		}
		creds, err = prov.EnsureCredentials(ctx, tenant, after, &creds)
		if err != nil {
			t.Fatal(err)
		}
		key := sw.S3Client(t, creds.AccessKeyID, creds.SecretAccessKey)
		if err := putObject(key, after.Bucket, after.Prefix+"x"); err != nil {
			t.Errorf("PutObject under the new placement: %v", err)
		}
		wantDenied(t, "PutObject into the old bucket", putObject(key, before.Bucket, "x"))
	})

	t.Run("a policy added to the user behind our back is removed", func(t *testing.T) {
		tenant := Tenant{"team-a", "lake"}
		p := placement(t, BucketPerTenant, "", tenant)
		_, err := sw.IAMClient(t).PutUserPolicy(ctx, &iam.PutUserPolicyInput{
			UserName:       aws.String(UserName(tenant)),
			PolicyName:     aws.String("everything"),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`),
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := prov.EnsureCredentials(ctx, tenant, p, nil); err != nil {
			t.Fatal(err)
		}
		out, err := sw.IAMClient(t).ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String(UserName(tenant))})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out.PolicyNames, []string{policyName}) {
			t.Errorf("inline policies %v; want only %s", out.PolicyNames, policyName)
		}
	})

	t.Run("a user name that another tenant already has is ErrConflict, and that user is untouched", func(t *testing.T) {
		// "team-x"/"lake" and "team"/"x-lake" both give the user tl-team-x-lake.
		first, second := Tenant{"team-x", "lake"}, Tenant{"team", "x-lake"}
		sw.CreateBucket(t, "lake-shared-2")
		firstCreds, err := prov.EnsureCredentials(ctx, first, placement(t, SharedBucket, "lake-shared-2", first), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = prov.EnsureCredentials(ctx, second, placement(t, SharedBucket, "lake-shared-2", second), nil)
		wantKind(t, "EnsureCredentials for the second tenant", err, ErrConflict)
		if ids := accessKeyIDs(t, sw, UserName(first)); !slices.Equal(ids, []string{firstCreds.AccessKeyID}) {
			t.Errorf("the first tenant's user has keys %v; want its own %s", ids, firstCreds.AccessKeyID)
		}
	})

	t.Run("a new tenant's user is made in four IAM calls, none of them a read", func(t *testing.T) {
		tenant := Tenant{"team-new", "lake"}
		sw.CreateBucket(t, "lake-shared-3")
		rec.reset()
		creds, err := prov.EnsureCredentials(ctx, tenant, placement(t, SharedBucket, "lake-shared-3", tenant), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"IAM CreateUser", "IAM TagUser", "IAM PutUserPolicy", "IAM CreateAccessKey"}
		if got := rec.iamOps(); !slices.Equal(got, want) {
			t.Errorf("IAM calls %v; want %v", got, want)
		}
		if owner, err := prov.(*s3iam).userOwner(ctx, UserName(tenant)); err != nil || owner != tenant.String() {
			t.Errorf("the new user is tagged for %q (%v); want %s", owner, err, tenant)
		}
		if ids := accessKeyIDs(t, sw, UserName(tenant)); !slices.Equal(ids, []string{creds.AccessKeyID}) {
			t.Errorf("the new user has keys %v; want only %s", ids, creds.AccessKeyID)
		}
	})
}

func TestRevokeCredentials(t *testing.T) {
	t.Parallel()
	sw, prov, _ := startStore(t)
	sw.CreateBucket(t, "lake-shared")
	tenant := Tenant{"team-a", "lake"}
	p := placement(t, SharedBucket, "lake-shared", tenant)
	creds, err := prov.EnsureCredentials(ctx, tenant, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := sw.S3Client(t, creds.AccessKeyID, creds.SecretAccessKey)
	if err := putObject(key, p.Bucket, p.Prefix+"x"); err != nil {
		t.Fatalf("PutObject before revoking: %v", err)
	}

	t.Run("it removes the user, and the key stops working", func(t *testing.T) {
		if err := prov.RevokeCredentials(ctx, tenant); err != nil {
			t.Fatal(err)
		}
		_, err := sw.IAMClient(t).GetUser(ctx, &iam.GetUserInput{UserName: aws.String(creds.UserName)})
		if apiCode(err) != "NoSuchEntity" {
			t.Errorf("GetUser after revoking: %v; want NoSuchEntity", err)
		}
		wantDenied(t, "PutObject with the revoked key", putObject(key, p.Bucket, p.Prefix+"y"))
	})

	t.Run("running it twice is no error", func(t *testing.T) {
		if err := prov.RevokeCredentials(ctx, tenant); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a tenant that never had a user is no error", func(t *testing.T) {
		if err := prov.RevokeCredentials(ctx, Tenant{"team-z", "never"}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a tenant whose user name another tenant has leaves that user alone", func(t *testing.T) {
		owner, other := Tenant{"team-x", "lake"}, Tenant{"team", "x-lake"}
		ownerCreds, err := prov.EnsureCredentials(ctx, owner, placement(t, SharedBucket, "lake-shared", owner), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := prov.RevokeCredentials(ctx, other); err != nil {
			t.Fatal(err)
		}
		if ids := accessKeyIDs(t, sw, UserName(owner)); !slices.Equal(ids, []string{ownerCreds.AccessKeyID}) {
			t.Errorf("the owner's user has keys %v; want its own %s", ids, ownerCreds.AccessKeyID)
		}
	})
}

// redact hides the secret in failure messages.
func redact(c Credentials) Credentials {
	if c.SecretAccessKey != "" {
		c.SecretAccessKey = "(set)"
	}
	if c.SessionToken != "" {
		c.SessionToken = "(set)"
	}
	return c
}
