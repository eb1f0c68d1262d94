package provision

import (
	"encoding/json"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestPlacementFor(t *testing.T) {
	long := strings.Repeat("x", 70)
	cases := []struct {
		name         string
		mode         string
		template     string
		sharedBucket string
		tenant       Tenant
		want         Placement // Owner is always the tenant
		wantBucket   *regexp.Regexp
		wantErr      error
	}{{
		name:   "the default template joins tl, the namespace and the name",
		mode:   BucketPerTenant,
		tenant: Tenant{"team-a", "lake"},
		want:   Placement{Bucket: "tl-team-a-lake"},
	}, {
		name:     "the CRD's default template, as a class carries it, gives the same",
		mode:     BucketPerTenant,
		template: "tl-{namespace}-{name}",
		tenant:   Tenant{"team-a", "lake"},
		want:     Placement{Bucket: "tl-team-a-lake"},
	}, {
		name:     "the design issue's <namespace> and <name> spelling is accepted too",
		mode:     BucketPerTenant,
		template: "tl-<namespace>-<name>",
		tenant:   Tenant{"team-a", "lake"},
		want:     Placement{Bucket: "tl-team-a-lake"},
	}, {
		name:     "a custom template is rendered",
		mode:     BucketPerTenant,
		template: "acme-{name}-in-{namespace}",
		tenant:   Tenant{"team-a", "lake"},
		want:     Placement{Bucket: "acme-lake-in-team-a"},
	}, {
		name:     "upper case in a template is lower-cased",
		mode:     BucketPerTenant,
		template: "ACME-{namespace}-{name}",
		tenant:   Tenant{"team-a", "lake"},
		want:     Placement{Bucket: "acme-team-a-lake"},
	}, {
		name:       "dots in a name are replaced, and a hash keeps the name apart from one with dashes",
		mode:       BucketPerTenant,
		tenant:     Tenant{"team-a", "my.lake"},
		wantBucket: regexp.MustCompile(`^tl-team-a-my-lake-[0-9a-f]{8}$`),
	}, {
		name:       "characters a bucket cannot have become single dashes",
		mode:       BucketPerTenant,
		template:   "tl_{namespace}__{name}",
		tenant:     Tenant{"team-a", "lake"},
		wantBucket: regexp.MustCompile(`^tl-team-a-lake-[0-9a-f]{8}$`),
	}, {
		name:       "a name too long for a bucket is cut to 63 characters with a hash",
		mode:       BucketPerTenant,
		tenant:     Tenant{"team-a", long},
		wantBucket: regexp.MustCompile(`^tl-team-a-x{44}-[0-9a-f]{8}$`),
	}, {
		name:         "a shared bucket puts each tenant under namespace/name/",
		mode:         SharedBucket,
		sharedBucket: "lake-shared",
		tenant:       Tenant{"team-a", "lake"},
		want:         Placement{Bucket: "lake-shared", Prefix: "team-a/lake/"},
	}, {
		name:         "a shared bucket ignores the template",
		mode:         SharedBucket,
		template:     "whatever",
		sharedBucket: "lake-shared",
		tenant:       Tenant{"team-a", "lake"},
		want:         Placement{Bucket: "lake-shared", Prefix: "team-a/lake/"},
	}, {
		name:         "a shared bucket with an invalid name is refused",
		mode:         SharedBucket,
		sharedBucket: "Lake_Shared",
		tenant:       Tenant{"team-a", "lake"},
		wantErr:      ErrInvalid,
	}, {
		name:     "a template without {name} is refused, as tenants would share a bucket",
		mode:     BucketPerTenant,
		template: "tl-{namespace}",
		tenant:   Tenant{"team-a", "lake"},
		wantErr:  ErrInvalid,
	}, {
		name:     "a template with an unknown placeholder is refused",
		mode:     BucketPerTenant,
		template: "tl-{cluster}-{namespace}-{name}",
		tenant:   Tenant{"team-a", "lake"},
		wantErr:  ErrInvalid,
	}, {
		name:     "a template that renders a reserved prefix is refused",
		mode:     BucketPerTenant,
		template: "sthree-{namespace}-{name}",
		tenant:   Tenant{"team-a", "lake"},
		wantErr:  ErrInvalid,
	}, {
		name:       "a template that renders a reserved suffix gets a hash that ends it",
		mode:       BucketPerTenant,
		template:   "{namespace}-{name}-s3alias",
		tenant:     Tenant{"team-a", "lake"},
		wantBucket: regexp.MustCompile(`^team-a-lake-s3alias-[0-9a-f]{8}$`),
	}, {
		name:    "an unknown mode is refused",
		mode:    "BucketPerNamespace",
		tenant:  Tenant{"team-a", "lake"},
		wantErr: ErrInvalid,
	}, {
		name:    "a tenant without a namespace is refused",
		mode:    BucketPerTenant,
		tenant:  Tenant{"", "lake"},
		wantErr: ErrInvalid,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PlacementFor(tc.mode, tc.template, tc.sharedBucket, tc.tenant)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %+v, %v; want an error matching %v", got, err, tc.wantErr)
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantBucket != nil {
				if !tc.wantBucket.MatchString(got.Bucket) {
					t.Errorf("bucket %q does not match %s", got.Bucket, tc.wantBucket)
				}
				tc.want.Bucket = got.Bucket
			}
			tc.want.Owner = tc.tenant
			if got != tc.want {
				t.Errorf("got %+v; want %+v", got, tc.want)
			}
			if reason := checkBucketName(got.Bucket); reason != "" {
				t.Errorf("bucket %q is not valid: %s", got.Bucket, reason)
			}
			again, _ := PlacementFor(tc.mode, tc.template, tc.sharedBucket, tc.tenant)
			if again != got {
				t.Errorf("second call gave %+v; want the same %+v", again, got)
			}
		})
	}
}

func TestHashedNamesStayApart(t *testing.T) {
	cases := []struct {
		name string
		a, b Tenant
	}{
		{"two long names that differ only after the cut get different buckets",
			Tenant{"team-a", strings.Repeat("x", 70) + "1"}, Tenant{"team-a", strings.Repeat("x", 70) + "2"}},
		{"a name with a dot and one with a dash get different buckets",
			Tenant{"team-a", "my.lake"}, Tenant{"team-a", "my-lake"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, errA := PlacementFor(BucketPerTenant, "", "", tc.a)
			b, errB := PlacementFor(BucketPerTenant, "", "", tc.b)
			if errA != nil || errB != nil {
				t.Fatal(errA, errB)
			}
			if a.Bucket == b.Bucket {
				t.Errorf("both got bucket %q", a.Bucket)
			}
		})
	}
}

func TestUserName(t *testing.T) {
	cases := []struct {
		name   string
		tenant Tenant
		want   *regexp.Regexp
	}{
		{"a short tenant gives tl-namespace-name", Tenant{"team-a", "lake"}, regexp.MustCompile(`^tl-team-a-lake$`)},
		{"a long tenant is cut to IAM's 64 characters with a hash", Tenant{"team-a", strings.Repeat("y", 80)},
			regexp.MustCompile(`^tl-team-a-y{45}-[0-9a-f]{8}$`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := UserName(tc.tenant)
			if !tc.want.MatchString(got) || len(got) > 64 {
				t.Errorf("UserName = %q (%d bytes); want %s", got, len(got), tc.want)
			}
		})
	}
}

func TestSamePolicy(t *testing.T) {
	want := policyFor(Placement{Bucket: "lake-shared", Prefix: "team-a/lake/", Owner: Tenant{"team-a", "lake"}})
	cases := []struct {
		name string
		got  string
		same bool
	}{
		{"the document as we write it is the same", mustJSON(t, want), true},
		{"the URL-encoded document AWS returns is the same", url.PathEscape(mustJSON(t, want)), true},
		{"one-element lists written as strings, reordered, without Sids, are the same", `{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::lake-shared","Condition":{"StringLike":{"s3:prefix":"team-a/lake/*"}}},
			{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::lake-shared/team-a/lake/*"},
			{"Effect":"Allow","Action":"s3:DeleteObject","Resource":["arn:aws:s3:::lake-shared/team-a/lake/segments/*","arn:aws:s3:::lake-shared/team-a/lake/tables/*"]}]}`, true},
		{"another prefix differs", strings.ReplaceAll(mustJSON(t, want), "team-a/lake/", "team-b/lake/"), false},
		{"a missing list condition differs", `{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::lake-shared"},
			{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::lake-shared/team-a/lake/*"}]}`, false},
		{"an extra action differs", strings.ReplaceAll(mustJSON(t, want), `"s3:GetObject"`, `"s3:GetObject","s3:DeleteObject"`), false},
		{"garbage differs", "not json", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := samePolicy(tc.got, want); got != tc.same {
				t.Errorf("samePolicy = %v; want %v for %s", got, tc.same, tc.got)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
