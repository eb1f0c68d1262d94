package provision

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The query server's key (issue 15): it reads and lists the tenant's objects and nothing else.
func TestEnsureReadOnlyCredentials(t *testing.T) {
	t.Parallel()
	sw, prov, rec := startStore(t)
	sw.CreateBucket(t, "lake-shared")

	for _, tc := range neighbourCases {
		t.Run(tc.name, func(t *testing.T) {
			p, other := tc.provisionBoth(t, prov)
			admin := sw.S3Client(t, sw.AccessKey, sw.SecretKey)
			for _, obj := range []struct{ bucket, key string }{{p.Bucket, p.Prefix + "blocks/1"}, {other.Bucket, other.Prefix + "secret"}} {
				if err := putObject(admin, obj.bucket, obj.key); err != nil {
					t.Fatal(err)
				}
			}
			readWrite, err := prov.EnsureCredentials(ctx, tc.tenant, p, nil)
			if err != nil {
				t.Fatal(err)
			}

			creds, err := prov.EnsureReadOnlyCredentials(ctx, tc.tenant, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if creds.UserName != ReadOnlyUserName(tc.tenant) || creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
				t.Fatalf("EnsureReadOnlyCredentials returned %+v; want a key of user %s", redact(creds), ReadOnlyUserName(tc.tenant))
			}
			if creds.AccessKeyID == readWrite.AccessKeyID || creds.UserName == readWrite.UserName {
				t.Fatalf("the read-only key %s of %s is the read-write one", creds.AccessKeyID, creds.UserName)
			}
			key := sw.S3Client(t, creds.AccessKeyID, creds.SecretAccessKey)

			t.Run("the key gets and lists its own objects", func(t *testing.T) {
				if err := getObject(key, p.Bucket, p.Prefix+"blocks/1"); err != nil {
					t.Fatalf("GetObject: %v", err)
				}
				keys, err := listObjects(key, p.Bucket, p.Prefix)
				if err != nil || !slices.Contains(keys, p.Prefix+"blocks/1") {
					t.Fatalf("ListObjectsV2 under %q: %v, %v; want blocks/1 listed", p.Prefix, keys, err)
				}
			})

			t.Run("the key writes and deletes nothing, not even its own parts", func(t *testing.T) {
				wantDenied(t, "PutObject of a block", putObject(key, p.Bucket, p.Prefix+"blocks/2"))
				wantDenied(t, "PutObject over an existing block", putObject(key, p.Bucket, p.Prefix+"blocks/1"))
				wantDenied(t, "PutObject of a part", putObject(key, p.Bucket, p.Prefix+"tables/log_entries/date=2026-11-27/hour=13/p.parquet"))
				_, err := key.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(p.Bucket), Key: aws.String(p.Prefix + "blocks/1")})
				wantDenied(t, "DeleteObject of a block", err)
				if err := putObject(admin, p.Bucket, p.Prefix+"tables/t/p.parquet"); err != nil {
					t.Fatal(err)
				}
				_, err = key.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(p.Bucket), Key: aws.String(p.Prefix + "tables/t/p.parquet")})
				wantDenied(t, "DeleteObject of a part", err)
			})

			t.Run("the key is refused the other tenant's objects", func(t *testing.T) {
				wantDenied(t, "GetObject from "+other.String(), getObject(key, other.Bucket, other.Prefix+"secret"))
				_, err := listObjects(key, other.Bucket, other.Prefix)
				wantDenied(t, "ListObjectsV2 of "+other.String(), err)
				if other.Shared() {
					_, err := listObjects(key, other.Bucket, "")
					wantDenied(t, "ListObjectsV2 of the whole shared bucket", err)
				}
			})

			t.Run("the read-write key still works beside it", func(t *testing.T) {
				rw := sw.S3Client(t, readWrite.AccessKeyID, readWrite.SecretAccessKey)
				if err := putObject(rw, p.Bucket, p.Prefix+"blocks/3"); err != nil {
					t.Fatalf("PutObject with the read-write key: %v", err)
				}
			})

			t.Run("calling again with the stored key returns it unchanged and writes nothing", func(t *testing.T) {
				rec.reset()
				again, err := prov.EnsureReadOnlyCredentials(ctx, tc.tenant, p, &creds)
				if err != nil {
					t.Fatal(err)
				}
				if again != creds {
					t.Errorf("got key %s; want the stored %s", again.AccessKeyID, creds.AccessKeyID)
				}
				if w := rec.writes(); len(w) > 0 {
					t.Errorf("EnsureReadOnlyCredentials with everything in place wrote %v", w)
				}
			})

			t.Run("the read-write key, handed in as the existing one, is not kept", func(t *testing.T) {
				again, err := prov.EnsureReadOnlyCredentials(ctx, tc.tenant, p, &readWrite)
				if err != nil {
					t.Fatal(err)
				}
				if again.AccessKeyID == readWrite.AccessKeyID {
					t.Fatalf("EnsureReadOnlyCredentials kept the read-write key %s", readWrite.AccessKeyID)
				}
				creds = again
			})
		})
	}

	t.Run("revoking the read-only key leaves the read-write one", func(t *testing.T) {
		tenant := Tenant{"team-f", "lake"}
		p := placement(t, SharedBucket, "lake-shared", tenant)
		rw, err := prov.EnsureCredentials(ctx, tenant, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		ro, err := prov.EnsureReadOnlyCredentials(ctx, tenant, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // and again, as a retried reconcile would
			if err := prov.RevokeReadOnlyCredentials(ctx, tenant); err != nil {
				t.Fatal(err)
			}
		}
		_, err = sw.IAMClient(t).GetUser(ctx, &iam.GetUserInput{UserName: aws.String(ro.UserName)})
		if apiCode(err) != "NoSuchEntity" {
			t.Errorf("GetUser %s after revoking it: %v; want NoSuchEntity", ro.UserName, err)
		}
		_, err = listObjects(sw.S3Client(t, ro.AccessKeyID, ro.SecretAccessKey), p.Bucket, p.Prefix)
		wantDenied(t, "ListObjectsV2 with the revoked read-only key", err)
		if err := putObject(sw.S3Client(t, rw.AccessKeyID, rw.SecretAccessKey), p.Bucket, p.Prefix+"blocks/after"); err != nil {
			t.Errorf("the read-write key stopped working with the read-only one: %v", err)
		}
	})

	t.Run("revoking the tenant removes the read-only user too", func(t *testing.T) {
		tenant := Tenant{"team-e", "lake"}
		p := placement(t, SharedBucket, "lake-shared", tenant)
		creds, err := prov.EnsureReadOnlyCredentials(ctx, tenant, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := prov.RevokeCredentials(ctx, tenant); err != nil {
			t.Fatal(err)
		}
		_, err = sw.IAMClient(t).GetUser(ctx, &iam.GetUserInput{UserName: aws.String(creds.UserName)})
		if apiCode(err) != "NoSuchEntity" {
			t.Errorf("GetUser %s after revoking: %v; want NoSuchEntity", creds.UserName, err)
		}
		key := sw.S3Client(t, creds.AccessKeyID, creds.SecretAccessKey)
		_, err = listObjects(key, p.Bucket, p.Prefix)
		wantDenied(t, "ListObjectsV2 with the revoked read-only key", err)
	})
}

func TestReadOnlyUserName(t *testing.T) {
	for _, tenant := range []Tenant{{"team-a", "lake"}, {"team-a", strings.Repeat("y", 80)}} {
		got := ReadOnlyUserName(tenant)
		if len(got) > 64 || got == UserName(tenant) || got[len(got)-len(readOnlySuffix):] != readOnlySuffix {
			t.Errorf("ReadOnlyUserName(%s) = %q (%d bytes); want at most 64 bytes ending in %s, apart from UserName %q",
				tenant, got, len(got), readOnlySuffix, UserName(tenant))
		}
	}
	if got := ReadOnlyUserName(Tenant{"team-a", "lake"}); got != "tl-team-a-lake@query" {
		t.Errorf("ReadOnlyUserName = %q; want tl-team-a-lake@query", got)
	}
}
