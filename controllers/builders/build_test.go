package builders

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

func kinds(objs []client.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, strings.TrimPrefix(fmt.Sprintf("%T", o), "*v1.")+" "+o.GetName())
	}
	return out
}

func TestBuild(t *testing.T) {
	cases := []struct {
		variant     string
		apply       []string
		remove      []string
		wantedPiece string
	}{
		{
			variantMinimal,
			[]string{"Secret team-a-ingester-config", "Secret team-a-ingester-auth", "Secret team-a-storage", "ServiceAccount team-a-ingester", "Service team-a-ingester", "Deployment team-a-ingester", "PodDisruptionBudget team-a-ingester", "CronJob team-a-lakehouse"},
			[]string{"*v2.HorizontalPodAutoscaler team-a-ingester", "Ingress team-a-ingester", "Deployment team-a-query", "Service team-a-query", "Secret team-a-query-connection", "Secret team-a-query-storage"},
			"",
		},
		{
			variantAutoscaling,
			[]string{"Secret team-a-ingester-config", "Secret team-a-ingester-auth", "Secret team-a-storage", "ServiceAccount team-a-ingester", "Service team-a-ingester", "Deployment team-a-ingester", "PodDisruptionBudget team-a-ingester", "*v2.HorizontalPodAutoscaler team-a-ingester", "CronJob team-a-lakehouse"},
			[]string{"Ingress team-a-ingester", "Deployment team-a-query", "Service team-a-query", "Secret team-a-query-connection", "Secret team-a-query-storage"},
			"",
		},
		{
			variantFilesystem,
			[]string{"Secret team-a-ingester-config", "Secret team-a-ingester-auth", "PersistentVolumeClaim team-a-data", "ServiceAccount team-a-ingester", "Service team-a-ingester", "Deployment team-a-ingester"},
			[]string{"Secret team-a-storage", "PodDisruptionBudget team-a-ingester", "*v2.HorizontalPodAutoscaler team-a-ingester", "Ingress team-a-ingester", "Deployment team-a-query", "Service team-a-query", "Secret team-a-query-connection", "Secret team-a-query-storage", "CronJob team-a-lakehouse"},
			"",
		},
		{
			variantAuth,
			[]string{"Secret team-a-ingester-config", "Secret team-a-ingester-auth", "Secret team-a-token-claude", "Secret team-a-token-checkout", "Secret team-a-storage", "ServiceAccount team-a-ingester", "Service team-a-ingester", "Deployment team-a-ingester", "PodDisruptionBudget team-a-ingester", "CronJob team-a-lakehouse"},
			[]string{"*v2.HorizontalPodAutoscaler team-a-ingester", "Ingress team-a-ingester", "Deployment team-a-query", "Service team-a-query", "Secret team-a-query-connection", "Secret team-a-query-storage"},
			"",
		},
		{
			variantIngressTLS,
			[]string{"Secret team-a-ingester-config", "Secret team-a-ingester-auth", "Secret team-a-storage", "ServiceAccount team-a-ingester", "Service team-a-ingester", "Deployment team-a-ingester", "PodDisruptionBudget team-a-ingester", "Ingress team-a-ingester", "CronJob team-a-lakehouse"},
			[]string{"*v2.HorizontalPodAutoscaler team-a-ingester", "Deployment team-a-query", "Service team-a-query", "Secret team-a-query-connection", "Secret team-a-query-storage"},
			"",
		},
		{
			variantQuery,
			[]string{"Secret team-a-ingester-config", "Secret team-a-ingester-auth", "Secret team-a-token-claude", "Secret team-a-token-grafana", "Secret team-a-storage", "ServiceAccount team-a-ingester", "Service team-a-ingester", "Deployment team-a-ingester", "PodDisruptionBudget team-a-ingester", "Secret team-a-query-storage", "Secret team-a-query-connection", "Service team-a-query", "Deployment team-a-query", "CronJob team-a-lakehouse"},
			[]string{"*v2.HorizontalPodAutoscaler team-a-ingester", "Ingress team-a-ingester"},
			"",
		},
	}
	for _, c := range cases {
		t.Run(c.variant, func(t *testing.T) {
			objs, err := Build(inputs(c.variant))
			if err != nil {
				t.Fatal(err)
			}
			if got := kinds(objs.Apply); !slices.Equal(got, c.apply) {
				t.Errorf("Apply = %q\nwant    %q", got, c.apply)
			}
			if got := kinds(objs.Remove); !slices.Equal(got, c.remove) {
				t.Errorf("Remove = %q\nwant     %q", got, c.remove)
			}
			for _, o := range objs.Remove {
				if o.GetNamespace() != "shop" || o.GetName() == "" {
					t.Errorf("Remove %T names %s/%s", o, o.GetNamespace(), o.GetName())
				}
			}
			if want := "app.kubernetes.io/component=ingester,app.kubernetes.io/instance=team-a"; objs.Selector != want {
				t.Errorf("Selector = %q, want %q", objs.Selector, want)
			}
		})
	}
}

// Apply and Remove are complementary in every variant, and the data volume is never removed.
func TestBuildNeverRemovesWhatItApplies(t *testing.T) {
	for _, variant := range allVariants {
		t.Run(variant, func(t *testing.T) {
			objs, err := Build(inputs(variant))
			if err != nil {
				t.Fatal(err)
			}
			applied := kinds(objs.Apply)
			for _, r := range kinds(objs.Remove) {
				if slices.Contains(applied, r) {
					t.Errorf("%s is both applied and removed", r)
				}
				if strings.HasPrefix(r, "PersistentVolumeClaim") {
					t.Errorf("%s would be removed, and the tenant's data with it", r)
				}
			}
		})
	}
}

func TestBuildRefusesWhatThePodsCouldNotStartWith(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Inputs)
		want   string
	}{
		{"an OIDC CA Secret that was not found", func(in *Inputs) { delete(in.OIDCCAs, "corp-ca") },
			"TelemetryLake shop/team-a: Secret corp-ca named by spec.auth.oidc[0].caSecretRef was not found"},
		{"S3 storage without credentials", func(in *Inputs) { in.Credentials = nil }, "no storage credentials"},
		{"a class CA that was not resolved", func(in *Inputs) { in.Credentials.CA = nil }, "LakeStorageClass rgw trusts a CA (spec.s3.caSecretRef) but no CA was resolved"},
		{"a config the ingester refuses", func(in *Inputs) { in.ServiceAccountIssuer = "" }, "service-account issuer is not known"},
		{"a filesystem class with a bad size", func(in *Inputs) {
			*in = inputs(variantFilesystem)
			in.Class.Spec.Filesystem.Size = "lots"
		}, "spec.filesystem.size"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := inputs(variantAuth)
			c.change(&in)
			objs, err := Build(in)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
			if len(objs.Apply) > 0 || len(objs.Remove) > 0 {
				t.Error("Build returned objects with its error")
			}
		})
	}
}

// An STS session is replaced two thirds into its lifetime, in the storage Secrets the pods mount
// as files: the pods follow the file, so a new session must not roll them, while a new CA, which
// they read once at start, still does.
func TestANewSessionRollsNoPodsAndANewCADoes(t *testing.T) {
	hashes := func(in Inputs) (string, string) {
		t.Helper()
		out, err := Build(in)
		if err != nil {
			t.Fatal(err)
		}
		var ingester, query string
		for _, obj := range out.Apply {
			if d, ok := obj.(*appsv1.Deployment); ok {
				switch d.Name {
				case NamesFor(in.Lake).Ingester:
					ingester = d.Spec.Template.Annotations[wellknown.AnnotationConfigHash]
				case NamesFor(in.Lake).Query:
					query = d.Spec.Template.Annotations[wellknown.AnnotationConfigHash]
				}
			}
		}
		return ingester, query
	}
	in := inputs(variantSessions)
	ingester, query := hashes(in)
	for _, c := range []*StorageCredentials{in.Credentials, in.QueryCredentials} {
		c.AccessKeyID, c.SecretAccessKey, c.SessionToken = c.AccessKeyID+"-next", c.SecretAccessKey+"-next", c.SessionToken+"-next"
		c.Expires = c.Expires.Add(40 * time.Minute)
	}
	if i, q := hashes(in); i != ingester || q != query {
		t.Errorf("a new session changed the config hashes: ingester %s -> %s, query %s -> %s", ingester, i, query, q)
	}
	for _, c := range []*StorageCredentials{in.Credentials, in.QueryCredentials} {
		c.CA = []byte("-----BEGIN CERTIFICATE-----\nMIIB...another-ca...\n-----END CERTIFICATE-----\n")
	}
	if i, q := hashes(in); i == ingester || q == query {
		t.Errorf("a new CA left a config hash as it was: ingester %s -> %s, query %s -> %s", ingester, i, query, q)
	}
}

// Every kind Build makes or removes, in any variant, is in ChildKinds.
func TestChildKindsCoverBuild(t *testing.T) {
	listed := map[reflect.Type]bool{}
	for _, o := range ChildKinds() {
		listed[reflect.TypeOf(o)] = true
	}
	for _, variant := range allVariants {
		objs, err := Build(inputs(variant))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range append(objs.Apply, objs.Remove...) {
			if !listed[reflect.TypeOf(o)] {
				t.Errorf("%s: Build makes a %T, which ChildKinds does not list", variant, o)
			}
		}
	}
}
