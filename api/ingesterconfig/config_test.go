package ingesterconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadReadsTheOperatorsYAML(t *testing.T) {
	c, err := Load(write(t, `
listen: ":4318"
storage: s3://tl-team-a/?endpoint=http://127.0.0.1:8333
tenant: team-a
limits:
  maxBodyBytes: 1048576
  maxInflightBytes: 33554432
storeTimeout: 3s
shutdownDelay: 5s
cors:
  allowedOrigins: ["https://app.example.com"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Tenant != "team-a" || c.Limits.MaxBodyBytes != 1<<20 || c.Limits.MaxInflightBytes != 32<<20 ||
		c.StoreTimeout.Duration != 3*time.Second || c.ShutdownDelay.Duration != 5*time.Second ||
		len(c.CORS.AllowedOrigins) != 1 {
		t.Errorf("loaded %+v", c)
	}
}

func TestLoadRefusesMistakes(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"a misspelled field":       {"storeTimout: 3s", "storeTimout"},
		"a duration without units": {"storeTimeout: 3", "duration"},
		"a wildcard CORS origin":   {"cors: {allowedOrigins: ['*']}", "may not be"},
		"a negative limit":         {"limits: {maxBodyBytes: -1}", "must not be negative"},
		"an unknown file mode":     {"segments: {fileMode: mmap}", `want "append" or "create"`},
		"a negative batch bound":   {"segments: {maxBatchBytes: -1}", "want a positive size"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(write(t, tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v does not mention %q", err, tc.want)
			}
		})
	}
}

func TestAuthSectionIsValidated(t *testing.T) {
	const kube = `
auth:
  kubernetes:
  - name: prod
    issuerURL: https://kubernetes.default.svc.cluster.local
    audiences: [telemetrylake]
    caFile: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
`
	cases := []struct {
		name, yaml, err string
	}{
		{"a token file alone is enough", "auth:\n  tokenFile: /etc/tokens/tokens.yaml\n", ""},
		{"an OIDC issuer with audiences is accepted",
			"auth:\n  oidc:\n  - name: corp\n    issuerURL: https://login.example.com\n    audiences: [telemetrylake]\n    requiredClaims: {email_verified: \"true\"}\n    signals: [traces]\n", ""},
		{"a cluster with service accounts and namespaces is accepted",
			kube + "    serviceAccounts: [system:serviceaccount:shop:checkout]\n    namespaces: [observability]\n", ""},
		{"a cluster that allows nobody is refused", kube, "list the serviceAccounts or namespaces"},
		{"a service account not written as a subject is refused",
			kube + "    serviceAccounts: [shop/checkout]\n", "system:serviceaccount:<namespace>:<name>"},
		{"an issuer without audiences is refused",
			"auth:\n  oidc:\n  - name: corp\n    issuerURL: https://login.example.com\n", "audiences"},
		{"an http issuer is refused",
			"auth:\n  oidc:\n  - name: corp\n    issuerURL: http://login.example.com\n    audiences: [a]\n", "https"},
		{"an issuer without a name is refused",
			"auth:\n  oidc:\n  - issuerURL: https://login.example.com\n    audiences: [a]\n", "needs a name"},
		{"two issuers with one name are refused",
			"auth:\n  oidc:\n  - {name: a, issuerURL: \"https://x.example\", audiences: [a]}\n  - {name: a, issuerURL: \"https://y.example\", audiences: [a]}\n", "used twice"},
		{"an unknown signal is refused",
			"auth:\n  oidc:\n  - {name: a, issuerURL: \"https://x.example\", audiences: [a], signals: [profiles]}\n", "unknown signal"},
		{"a misspelt field is refused", "auth:\n  tokensFile: /etc/tokens.yaml\n", "unknown field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(write(t, tc.yaml))
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err == "" && !cfg.Auth.Configured():
				t.Fatal("loaded, but Auth.Configured() is false")
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one that says %q", err, tc.err)
			}
		})
	}
}
