package provision

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestEnsureStorage(t *testing.T) {
	t.Parallel()
	sw, prov, rec := startStore(t)
	admin := sw.S3Client(t, sw.AccessKey, sw.SecretKey)
	own := placement(t, BucketPerTenant, "", Tenant{"team-a", "lake"})

	t.Run("it creates a missing bucket of the tenant's own, using S3 only", func(t *testing.T) {
		rec.reset()
		if err := prov.EnsureStorage(ctx, own, 0); err != nil {
			t.Fatal(err)
		}
		if !bucketExists(t, admin, own.Bucket) {
			t.Fatalf("bucket %s was not created", own.Bucket)
		}
		if rec.usedIAM() {
			t.Errorf("EnsureStorage called the IAM API; the s3-static provisioner has no IAM: %v", rec.ops)
		}
	})

	t.Run("running it again writes nothing", func(t *testing.T) {
		rec.reset()
		if err := prov.EnsureStorage(ctx, own, 0); err != nil {
			t.Fatal(err)
		}
		if w := rec.writes(); len(w) > 0 {
			t.Errorf("second EnsureStorage wrote %v", w)
		}
	})

	retention := []struct {
		name string
		days int32
	}{
		{"a retention of 30 days puts an expiry rule on the bucket", 30},
		{"a changed retention rewrites the rule", 7},
		{"a retention of 0 removes the rule", 0},
	}
	for _, tc := range retention {
		t.Run(tc.name, func(t *testing.T) {
			if err := prov.EnsureStorage(ctx, own, tc.days); err != nil {
				t.Fatal(err)
			}
			rules := lifecycleRules(t, admin, own.Bucket)
			if tc.days == 0 {
				if len(rules) != 0 {
					t.Fatalf("rules %s; want none", describeRules(rules))
				}
				return
			}
			if len(rules) != 1 || !isRetentionRule(rules[0], "", tc.days) || aws.ToString(rules[0].ID) != retentionRuleID(own) {
				t.Fatalf("rules %s; want one expiring everything after %d days", describeRules(rules), tc.days)
			}
			rec.reset()
			if err := prov.EnsureStorage(ctx, own, tc.days); err != nil {
				t.Fatal(err)
			}
			if w := rec.writes(); len(w) > 0 {
				t.Errorf("EnsureStorage with the rule in place wrote %v", w)
			}
		})
	}

	t.Run("rules that others put on the bucket are kept", func(t *testing.T) {
		_, err := admin.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{
			Bucket: aws.String(own.Bucket),
			LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{{
				ID:         aws.String("admin-tmp"),
				Status:     types.ExpirationStatusEnabled,
				Filter:     &types.LifecycleRuleFilter{Prefix: aws.String("tmp/")},
				Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)},
			}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := prov.EnsureStorage(ctx, own, 30); err != nil {
			t.Fatal(err)
		}
		if got := ruleIDs(lifecycleRules(t, admin, own.Bucket)); got != "admin-tmp,telemetrylake-retention" {
			t.Errorf("rules %s; want admin-tmp and ours", got)
		}
		if err := prov.EnsureStorage(ctx, own, 0); err != nil {
			t.Fatal(err)
		}
		if got := ruleIDs(lifecycleRules(t, admin, own.Bucket)); got != "admin-tmp" {
			t.Errorf("rules %s; want admin-tmp only", got)
		}
	})

	t.Run("tenants of a shared bucket each get a rule for their prefix, even when reconciled at once", func(t *testing.T) {
		sw.CreateBucket(t, "lake-shared")
		tenants := []struct {
			tenant Tenant
			days   int32
		}{{Tenant{"team-a", "lake"}, 10}, {Tenant{"team-b", "lake"}, 20}, {Tenant{"team-c", "lake"}, 30}, {Tenant{"team-d", "lake"}, 40}}
		var wg sync.WaitGroup
		errs := make([]error, len(tenants))
		for i, tn := range tenants {
			p := placement(t, SharedBucket, "lake-shared", tn.tenant)
			wg.Go(func() { errs[i] = prov.EnsureStorage(ctx, p, tn.days) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("%s: %v", tenants[i].tenant, err)
			}
		}
		rules := lifecycleRules(t, admin, "lake-shared")
		for _, tn := range tenants {
			p := placement(t, SharedBucket, "lake-shared", tn.tenant)
			found := false
			for _, r := range rules {
				found = found || aws.ToString(r.ID) == retentionRuleID(p) && isRetentionRule(r, p.Prefix, tn.days)
			}
			if !found {
				t.Errorf("no rule expiring %s after %d days in %s", p.Prefix, tn.days, describeRules(rules))
			}
		}
	})

	t.Run("a shared bucket that does not exist is ErrInvalid and is not created", func(t *testing.T) {
		err := prov.EnsureStorage(ctx, placement(t, SharedBucket, "no-such-bucket", Tenant{"team-a", "lake"}), 0)
		wantKind(t, "EnsureStorage", err, ErrInvalid)
		if bucketExists(t, admin, "no-such-bucket") {
			t.Error("the shared bucket was created")
		}
	})

	t.Run("a bucket whose name another tenant's renders to is ErrConflict", func(t *testing.T) {
		// "team-x"/"lake" and "team"/"x-lake" both render to tl-team-x-lake.
		first := placement(t, BucketPerTenant, "", Tenant{"team-x", "lake"})
		second := placement(t, BucketPerTenant, "", Tenant{"team", "x-lake"})
		if first.Bucket != second.Bucket {
			t.Fatalf("test premise: %s and %s differ", first.Bucket, second.Bucket)
		}
		if err := prov.EnsureStorage(ctx, first, 0); err != nil {
			t.Fatal(err)
		}
		wantKind(t, "EnsureStorage for the second tenant", prov.EnsureStorage(ctx, second, 0), ErrConflict)
	})

	t.Run("a negative retention is ErrInvalid", func(t *testing.T) {
		wantKind(t, "EnsureStorage", prov.EnsureStorage(ctx, own, -1), ErrInvalid)
	})
}

func TestDeleteData(t *testing.T) {
	t.Parallel()
	sw, prov, rec := startStore(t)
	admin := sw.S3Client(t, sw.AccessKey, sw.SecretKey)

	t.Run("it empties and removes a bucket of the tenant's own, across several pages of objects", func(t *testing.T) {
		own := placement(t, BucketPerTenant, "", Tenant{"team-a", "lake"})
		if err := prov.EnsureStorage(ctx, own, 30); err != nil {
			t.Fatal(err)
		}
		putObjects(t, admin, own.Bucket, "blocks/", 1100) // more than one page of 1000
		if err := prov.DeleteData(ctx, own, true); err != nil {
			t.Fatal(err)
		}
		if bucketExists(t, admin, own.Bucket) {
			t.Error("the bucket is still there")
		}
		if rec.usedIAM() {
			t.Errorf("DeleteData called the IAM API: %v", rec.ops)
		}
	})

	t.Run("running it again is no error", func(t *testing.T) {
		own := placement(t, BucketPerTenant, "", Tenant{"team-a", "lake"})
		if err := prov.DeleteData(ctx, own, true); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("in a shared bucket it deletes only the tenant's prefix and rule", func(t *testing.T) {
		sw.CreateBucket(t, "lake-shared")
		gone := placement(t, SharedBucket, "lake-shared", Tenant{"team-a", "lake"})
		kept := placement(t, SharedBucket, "lake-shared", Tenant{"team-b", "lake"})
		// "team-a/lake-2/" starts with "team-a/lake" but is another tenant's.
		neighbour := placement(t, SharedBucket, "lake-shared", Tenant{"team-a", "lake-2"})
		for _, p := range []Placement{gone, kept, neighbour} {
			if err := prov.EnsureStorage(ctx, p, 30); err != nil {
				t.Fatal(err)
			}
			putObjects(t, admin, p.Bucket, p.Prefix, 5)
		}
		if err := prov.DeleteData(ctx, gone, false); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			p    Placement
			want int
		}{{gone, 0}, {kept, 5}, {neighbour, 5}} {
			keys, err := listObjects(admin, c.p.Bucket, c.p.Prefix)
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != c.want {
				t.Errorf("%s holds %d objects; want %d", c.p, len(keys), c.want)
			}
		}
		if !bucketExists(t, admin, "lake-shared") {
			t.Error("the shared bucket is gone")
		}
		want := retentionRuleID(kept) + "," + retentionRuleID(neighbour)
		if got := ruleIDs(lifecycleRules(t, admin, "lake-shared")); got != want {
			t.Errorf("rules %s; want %s", got, want)
		}
	})

	t.Run("every request with a body carried a correct Content-MD5, as some stores insist", func(t *testing.T) {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.md5) == 0 {
			t.Fatal("no request with a body was recorded")
		}
		for op, ok := range rec.md5 {
			if !ok {
				t.Errorf("%s: Content-MD5 missing or wrong", op)
			}
		}
		t.Logf("checked %v", rec.md5)
	})

	t.Run("it refuses to delete a shared bucket", func(t *testing.T) {
		p := placement(t, SharedBucket, "lake-shared", Tenant{"team-b", "lake"})
		wantKind(t, "DeleteData", prov.DeleteData(ctx, p, true), ErrInvalid)
		if !bucketExists(t, admin, "lake-shared") {
			t.Error("the shared bucket is gone")
		}
	})

	t.Run("it leaves alone a bucket that another tenant's name renders to", func(t *testing.T) {
		owner := placement(t, BucketPerTenant, "", Tenant{"team-x", "lake"})
		other := placement(t, BucketPerTenant, "", Tenant{"team", "x-lake"})
		if err := prov.EnsureStorage(ctx, owner, 0); err != nil {
			t.Fatal(err)
		}
		putObjects(t, admin, owner.Bucket, "", 3)
		if err := prov.DeleteData(ctx, other, true); err != nil {
			t.Fatal(err)
		}
		if keys, err := listObjects(admin, owner.Bucket, ""); err != nil || len(keys) != 3 {
			t.Errorf("the owner's bucket holds %d objects (%v); want 3", len(keys), err)
		}
	})
}

// putObjects writes n small objects under prefix, a few at a time.
func putObjects(t *testing.T, c *s3.Client, bucket, prefix string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := putObject(c, bucket, fmt.Sprintf("%sobject-%04d", prefix, i)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("PutObject into %s: %v", bucket, err)
	}
}

func ruleIDs(rules []types.LifecycleRule) string {
	ids := make([]string, len(rules))
	for i, r := range rules {
		ids[i] = aws.ToString(r.ID)
	}
	return strings.Join(ids, ",")
}

func describeRules(rules []types.LifecycleRule) string {
	var b strings.Builder
	b.WriteString("[")
	for i, r := range rules {
		if i > 0 {
			b.WriteString(" ")
		}
		prefix := r.Prefix
		if r.Filter != nil {
			prefix = r.Filter.Prefix
		}
		var days int32
		if r.Expiration != nil {
			days = aws.ToInt32(r.Expiration.Days)
		}
		fmt.Fprintf(&b, "{%s %s prefix=%q days=%d}", aws.ToString(r.ID), r.Status, aws.ToString(prefix), days)
	}
	b.WriteString("]")
	return b.String()
}
