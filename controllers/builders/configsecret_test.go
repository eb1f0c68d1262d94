package builders

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

func TestConfigSecret(t *testing.T) {
	for _, variant := range []string{variantMinimal, variantFilesystem, variantAuth, variantScheduling, variantUndefaulted} {
		t.Run(variant, func(t *testing.T) {
			s, err := ConfigSecret(inputs(variant))
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "configsecret", variant, s)
		})
	}
}

// The ingester reads its config strictly (an unknown field is an error), so what the builder
// renders is loaded with the ingester's own loader.
func TestConfigSecretLoadsInTheIngester(t *testing.T) {
	for _, variant := range allVariants {
		t.Run(variant, func(t *testing.T) {
			s, err := ConfigSecret(inputs(variant))
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), wellknown.SecretKeyConfig)
			if err := os.WriteFile(file, s.Data[wellknown.SecretKeyConfig], 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := ingesterconfig.Load(file)
			if err != nil {
				t.Fatalf("the ingester refuses the rendered config: %v", err)
			}
			if cfg.Auth.TokenFile != wellknown.TokenFile || !cfg.Auth.Configured() {
				t.Errorf("auth.tokenFile = %q, want %q on every lake so the ingester starts and refuses unknown callers", cfg.Auth.TokenFile, wellknown.TokenFile)
			}
			if cfg.Tenant != "shop/team-a" {
				t.Errorf("tenant = %q, want shop/team-a", cfg.Tenant)
			}
		})
	}
}

func TestConfigSecretRefusesWhatTheIngesterWould(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Inputs)
		want   string
	}{
		{"no storage URL resolved", func(in *Inputs) { in.StorageURL = "" }, "no storage URL"},
		{"service accounts without a known cluster issuer", func(in *Inputs) { in.ServiceAccountIssuer = "" }, "service-account issuer is not known"},
		{"the same OIDC issuer twice", func(in *Inputs) {
			in.Lake.Spec.Auth.OIDC = append(in.Lake.Spec.Auth.OIDC, v1alpha1.OIDCIssuer{IssuerURL: in.Lake.Spec.Auth.OIDC[0].IssuerURL, Audiences: []string{"x"}})
		}, "spec.auth.oidc[3].issuerURL https://keycloak.example.com/realms/shop is also spec.auth.oidc[0].issuerURL"},
		{"the cluster's issuer as an OIDC issuer", func(in *Inputs) { in.ServiceAccountIssuer = in.Lake.Spec.Auth.OIDC[1].IssuerURL }, "use spec.auth.serviceAccounts"},
		{"an OIDC issuer over plain http", func(in *Inputs) { in.Lake.Spec.Auth.OIDC[1].IssuerURL = "http://dex.example.com" }, "must be an https URL"},
		{"an OIDC issuer without audiences", func(in *Inputs) { in.Lake.Spec.Auth.OIDC[1].Audiences = nil }, "list the accepted audiences"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := inputs(variantAuth)
			c.change(&in)
			_, err := ConfigSecret(in)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
			if !strings.Contains(err.Error(), "shop/team-a") {
				t.Errorf("err = %v, want it to name the TelemetryLake", err)
			}
		})
	}
}

func TestAllowedServiceAccounts(t *testing.T) {
	accounts, namespaces := allowedServiceAccounts("shop", inputs(variantAuth).Lake.Spec.Auth.ServiceAccounts)
	wantAccounts := []string{"system:serviceaccount:batch:exporter", "system:serviceaccount:shop:web"}
	wantNamespaces := []string{"payments"}
	if strings.Join(accounts, ",") != strings.Join(wantAccounts, ",") {
		t.Errorf("accounts = %q, want %q", accounts, wantAccounts)
	}
	if strings.Join(namespaces, ",") != strings.Join(wantNamespaces, ",") {
		t.Errorf("namespaces = %q, want %q", namespaces, wantNamespaces)
	}
}

func TestS3StorageURL(t *testing.T) {
	cases := []struct {
		name, bucket, prefix string
		s3                   *v1alpha1.S3Settings
		want                 string
	}{
		{"a bucket of its own on AWS", "tl-shop-team-a", "", &v1alpha1.S3Settings{Region: "eu-west-1"}, "s3://tl-shop-team-a/?region=eu-west-1"},
		{"a prefix of a shared bucket on SeaweedFS", "telemetry", "shop/team-a/", &v1alpha1.S3Settings{Endpoint: "http://seaweedfs:8333", Region: "us-east-1", PathStyle: true},
			"s3://telemetry/shop/team-a?endpoint=http%3A%2F%2Fseaweedfs%3A8333&path_style=true&region=us-east-1"},
		{"no settings", "b", "p", nil, "s3://b/p"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := S3StorageURL(c.bucket, c.prefix, c.s3); got != c.want {
				t.Errorf("S3StorageURL = %s, want %s", got, c.want)
			}
		})
	}
}
