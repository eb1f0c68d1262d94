package config

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
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(write(t, tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v does not mention %q", err, tc.want)
			}
		})
	}
}
