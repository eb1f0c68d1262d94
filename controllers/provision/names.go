package provision

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
)

// Bucket modes, as spelled in the LakeStorageClass.
const (
	BucketPerTenant = "BucketPerTenant"
	SharedBucket    = "SharedBucket"
)

// DefaultBucketTemplate names a tenant's bucket in BucketPerTenant mode when the class gives no
// template (it is also the CRD's default for spec.bucket.nameTemplate). {namespace} and {name}
// are replaced by the tenant's; <namespace> and <name>, as the design issue spells them, are
// accepted too.
const DefaultBucketTemplate = "tl-{namespace}-{name}"

// Placeholders are first turned into markers that neither template text nor Kubernetes names
// can contain, so that a tenant's name is never itself taken for a placeholder.
const (
	namespaceMark = "\x00ns\x00"
	nameMark      = "\x00n\x00"
)

var templateFields = strings.NewReplacer(
	"{namespace}", namespaceMark, "<namespace>", namespaceMark,
	"{name}", nameMark, "<name>", nameMark,
)

// Tenant is what the storage is for: one TelemetryLake.
type Tenant struct {
	Namespace, Name string
}

func (t Tenant) String() string { return t.Namespace + "/" + t.Name }

// Placement is where a tenant's objects live: a bucket of its own (Prefix "") or a prefix
// "<namespace>/<name>/" of a shared bucket.
type Placement struct {
	Bucket string
	Prefix string
	// Owner is the tenant the placement was made for. A bucket of its own is tagged with it, so
	// that two tenants whose names render to the same bucket name can never share, or delete,
	// each other's bucket.
	Owner Tenant
}

// Shared reports whether the bucket is shared with other tenants.
func (p Placement) Shared() bool { return p.Prefix != "" }

func (p Placement) String() string { return "s3://" + p.Bucket + "/" + p.Prefix }

// PlacementFor works out where tenant t's objects go. mode is BucketPerTenant or SharedBucket;
// template (BucketPerTenant only, default DefaultBucketTemplate) must contain {namespace} and
// {name}; sharedBucket (SharedBucket only) is the existing bucket all tenants share.
//
// In BucketPerTenant mode the rendered name is lower-cased; if it is then not a DNS-safe bucket
// name (only a-z, 0-9 and '-', 3 to 63 characters), it is made one by replacing other
// characters with '-', truncating, and appending a hash of the tenant, so that the name stays
// unique and the same on every reconcile.
func PlacementFor(mode, template, sharedBucket string, t Tenant) (Placement, error) {
	if t.Namespace == "" || t.Name == "" {
		return Placement{}, invalidf("tenant %q: namespace and name must both be set", t.String())
	}
	switch mode {
	case BucketPerTenant:
		bucket, err := bucketName(template, t)
		if err != nil {
			return Placement{}, err
		}
		return Placement{Bucket: bucket, Owner: t}, nil
	case SharedBucket:
		if err := checkBucketName(sharedBucket); err != "" {
			return Placement{}, invalidf("shared bucket name %q in the LakeStorageClass: %s", sharedBucket, err)
		}
		return Placement{Bucket: sharedBucket, Prefix: t.Namespace + "/" + t.Name + "/", Owner: t}, nil
	}
	return Placement{}, invalidf("bucket mode %q in the LakeStorageClass: want %s or %s", mode, BucketPerTenant, SharedBucket)
}

// UserName is the IAM user that holds tenant t's credentials: "tl-<namespace>-<name>", shortened
// with a hash of the tenant when it would exceed IAM's 64 characters.
func UserName(t Tenant) string {
	return shorten("tl-"+t.Namespace+"-"+t.Name, 64, t)
}

// readOnlySuffix ends the name of a tenant's read-only IAM user. '@' is valid in IAM user names
// and appears in no Kubernetes name, so no tenant's read-write user is ever named like another
// tenant's read-only one.
const readOnlySuffix = "@query"

// ReadOnlyUserName is the IAM user that holds tenant t's read-only key (its query server's):
// "tl-<namespace>-<name>@query", shortened like UserName to IAM's 64 characters.
func ReadOnlyUserName(t Tenant) string {
	return shorten("tl-"+t.Namespace+"-"+t.Name, 64-len(readOnlySuffix), t) + readOnlySuffix
}

func bucketName(template string, t Tenant) (string, error) {
	if template == "" {
		template = DefaultBucketTemplate
	}
	marked := templateFields.Replace(template)
	// A template without both placeholders would give two tenants the same bucket.
	if !strings.Contains(marked, namespaceMark) || !strings.Contains(marked, nameMark) {
		return "", invalidf("bucket name template %q in the LakeStorageClass must contain {namespace} and {name}", template)
	}
	if strings.ContainsAny(marked, "{}<>") {
		return "", invalidf("bucket name template %q in the LakeStorageClass: only {namespace} and {name} can be used", template)
	}
	rendered := strings.NewReplacer(namespaceMark, t.Namespace, nameMark, t.Name).Replace(marked)
	name := strings.ToLower(rendered)
	if checkBucketName(name) == "" && !strings.Contains(name, ".") {
		return name, nil
	}
	// Dots are valid in bucket names but break virtual-hosted-style TLS (*.s3.amazonaws.com
	// matches one label only), so they are replaced like any other unsafe character.
	safe := strings.Map(func(r rune) rune {
		if isAlnum(r) {
			return r
		}
		return '-'
	}, name)
	for strings.Contains(safe, "--") {
		safe = strings.ReplaceAll(safe, "--", "-")
	}
	safe = strings.Trim(safe, "-")
	// Replacing characters can make two tenants' names equal, so the hash goes on even when the
	// name is short enough.
	name = withHash(safe, 63, t)
	if err := checkBucketName(name); err != "" {
		return "", invalidf("bucket name template %q in the LakeStorageClass gives %q for tenant %s: %s", template, name, t, err)
	}
	return name, nil
}

// shorten returns name if it has at most max bytes, and otherwise a prefix of it with a hash of
// the tenant appended.
func shorten(name string, max int, t Tenant) string {
	if len(name) <= max {
		return name
	}
	return withHash(name, max, t)
}

// withHash appends "-" and 8 hex digits of the tenant's hash to name, cut so the result has at
// most max bytes. The hash is of "<namespace>/<name>", which is unique per tenant ('/' appears
// in neither), so hashed names of different tenants differ.
func withHash(name string, max int, t Tenant) string {
	sum := sha256.Sum256([]byte(t.Namespace + "/" + t.Name))
	suffix := "-" + hex.EncodeToString(sum[:4])
	if len(name) > max-len(suffix) {
		name = strings.TrimRight(name[:max-len(suffix)], "-.")
	}
	if name == "" {
		return suffix[1:]
	}
	return name + suffix
}

// checkBucketName returns why name is not a valid S3 bucket name, or "" if it is. It follows
// the AWS rules for general purpose buckets, which S3-compatible stores accept too.
func checkBucketName(name string) string {
	switch {
	case len(name) < 3 || len(name) > 63:
		return "a bucket name must have 3 to 63 characters"
	case strings.IndexFunc(name, func(r rune) bool { return !isAlnum(r) && r != '.' && r != '-' }) >= 0:
		return "a bucket name may contain only lower-case letters, digits, '.' and '-'"
	case !isAlnum(rune(name[0])) || !isAlnum(rune(name[len(name)-1])):
		return "a bucket name must begin and end with a letter or digit"
	case strings.Contains(name, ".."):
		return "a bucket name must not contain '..'"
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return "a bucket name must not look like an IP address"
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return "a bucket name must not begin with " + p
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return "a bucket name must not end with " + s
		}
	}
	return ""
}

func isAlnum(r rune) bool { return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' }
