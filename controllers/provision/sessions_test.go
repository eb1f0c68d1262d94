package provision

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Credentials mode AssumeRole (issue 13): one role for every tenant, each session narrowed by its
// session policy to what the tenant's IAM user would be allowed, and no IAM user made.
func TestAssumeTenantRole(t *testing.T) {
	t.Parallel()
	sw, prov, rec := startStore(t)
	sw.CreateBucket(t, "lake-shared")
	role := Role{ARN: sw.CreateTenantRole(t, "telemetrylake-tenants"), SessionDuration: MinSessionDuration}
	users := sw.IAMUserCount(t)

	for _, tc := range neighbourCases {
		t.Run(tc.name, func(t *testing.T) {
			p, other := tc.provisionBoth(t, prov)
			admin := sw.S3Client(t, sw.AccessKey, sw.SecretKey)
			if err := putObject(admin, other.Bucket, other.Prefix+"secret"); err != nil {
				t.Fatal(err)
			}
			rec.reset()
			before := time.Now()
			creds, err := prov.AssumeTenantRole(ctx, tc.tenant, p, role)
			if err != nil {
				t.Fatal(err)
			}
			if creds.AccessKeyID == "" || creds.SecretAccessKey == "" || creds.SessionToken == "" || creds.UserName != "" {
				t.Fatalf("AssumeTenantRole returned %+v; want a session (key, secret, token) of no IAM user", redact(creds))
			}
			if lifetime := creds.Expires.Sub(before); lifetime < role.SessionDuration-time.Minute || lifetime > role.SessionDuration+time.Minute {
				t.Errorf("the session expires in %s; want the %s asked for", lifetime, role.SessionDuration)
			}
			if rec.usedIAM() {
				t.Errorf("AssumeTenantRole called the IAM API: %v", rec.ops)
			}
			session := sw.SessionS3Client(t, creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)

			t.Run("the session writes, reads and lists its own objects, and deletes its parts", func(t *testing.T) {
				if err := putObject(session, p.Bucket, p.Prefix+"blocks/1"); err != nil {
					t.Fatalf("PutObject: %v", err)
				}
				if err := getObject(session, p.Bucket, p.Prefix+"blocks/1"); err != nil {
					t.Fatalf("GetObject: %v", err)
				}
				keys, err := listObjects(session, p.Bucket, p.Prefix)
				if err != nil || !slices.Contains(keys, p.Prefix+"blocks/1") {
					t.Fatalf("ListObjectsV2 under %q: %v, %v; want blocks/1 listed", p.Prefix, keys, err)
				}
				part := p.Prefix + "tables/log_entries/date=2026-11-27/hour=13/p.parquet"
				if err := putObject(session, p.Bucket, part); err != nil {
					t.Fatal(err)
				}
				if _, err := session.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(p.Bucket), Key: aws.String(part)}); err != nil {
					t.Errorf("DeleteObject of a part it compacted: %v", err)
				}
			})

			t.Run("the session deletes no block, as the IAM user could not", func(t *testing.T) {
				_, err := session.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(p.Bucket), Key: aws.String(p.Prefix + "blocks/1")})
				wantDenied(t, "DeleteObject of a block", err)
			})

			t.Run("the session is refused the other tenant's objects, which its role may reach", func(t *testing.T) {
				wantDenied(t, "PutObject into "+other.String(), putObject(session, other.Bucket, other.Prefix+"blocks/x"))
				wantDenied(t, "GetObject from "+other.String(), getObject(session, other.Bucket, other.Prefix+"secret"))
				_, err := listObjects(session, other.Bucket, other.Prefix)
				wantDenied(t, "ListObjectsV2 of "+other.String(), err)
			})

			t.Run("the read-only session reads and lists, and writes nothing", func(t *testing.T) {
				ro, err := prov.AssumeReadOnlyTenantRole(ctx, tc.tenant, p, role)
				if err != nil {
					t.Fatal(err)
				}
				if ro.AccessKeyID == creds.AccessKeyID {
					t.Fatal("the read-only session is the read-write one")
				}
				key := sw.SessionS3Client(t, ro.AccessKeyID, ro.SecretAccessKey, ro.SessionToken)
				if err := getObject(key, p.Bucket, p.Prefix+"blocks/1"); err != nil {
					t.Errorf("GetObject: %v", err)
				}
				if _, err := listObjects(key, p.Bucket, p.Prefix); err != nil {
					t.Errorf("ListObjectsV2: %v", err)
				}
				wantDenied(t, "PutObject with the read-only session", putObject(key, p.Bucket, p.Prefix+"blocks/2"))
				wantDenied(t, "GetObject from "+other.String(), getObject(key, other.Bucket, other.Prefix+"secret"))
			})
		})
	}

	if got := sw.IAMUserCount(t); got != users {
		t.Errorf("the store had %d IAM users before the sessions and %d after; want none added", users, got)
	}

	t.Run("a duration STS would refuse is refused before any call", func(t *testing.T) {
		p := placement(t, BucketPerTenant, "", Tenant{"team-a", "lake"})
		for _, d := range []time.Duration{time.Minute, 13 * time.Hour} {
			_, err := prov.AssumeTenantRole(ctx, p.Owner, p, Role{ARN: role.ARN, SessionDuration: d})
			wantKind(t, "a session of "+d.String(), err, ErrInvalid)
		}
	})

	t.Run("a role the admin may not assume is denied, with the permission named", func(t *testing.T) {
		p := placement(t, BucketPerTenant, "", Tenant{"team-a", "lake"})
		_, err := prov.AssumeTenantRole(ctx, p.Owner, p, Role{ARN: "arn:aws:iam::000000000000:role/no-such-role", SessionDuration: MinSessionDuration})
		wantKind(t, "AssumeRole of a role that does not exist", err, ErrDenied)
		if !strings.Contains(err.Error(), "sts:AssumeRole") {
			t.Errorf("the error does not name the permission: %v", err)
		}
	})
}

func TestRefreshAtIsTwoThirdsIntoTheSessionLessAJitterFixedPerLake(t *testing.T) {
	issued := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	for _, d := range []time.Duration{MinSessionDuration, time.Hour, MaxSessionDuration} {
		seen := map[time.Time]bool{}
		for i := range 50 {
			key := fmt.Sprintf("lake-%d", i)
			at := RefreshAt(issued.Add(d), d, key)
			if at != RefreshAt(issued.Add(d), d, key) {
				t.Fatalf("RefreshAt of %s is not the same twice", key)
			}
			into := at.Sub(issued)
			if into < d*2/3-d/10 || into > d*2/3 {
				t.Errorf("a %s session of %s is refreshed %s into it; want between 2/3 less 1/10 and 2/3", d, key, into)
			}
			seen[at] = true
		}
		if len(seen) < 40 {
			t.Errorf("50 lakes' %s sessions are refreshed at only %d distinct times", d, len(seen))
		}
	}
}
