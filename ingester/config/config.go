// Package config is the ingester's configuration file, the YAML that the operator renders into a
// Secret and the ingester reads with --config. Command-line flags override it field by field.
package config

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"sigs.k8s.io/yaml"
)

// Config is the whole file. Every field is optional; zero values take the ingester's defaults.
type Config struct {
	// Listen is the OTLP/HTTP address, default ":4318".
	Listen string `json:"listen,omitempty"`
	// AdminListen serves /metrics, /healthz and /readyz, default ":9090".
	AdminListen string `json:"adminListen,omitempty"`
	// Storage is the store URL: file:///dir or s3://bucket/prefix?endpoint=...&region=...&path_style=true.
	Storage string `json:"storage,omitempty"`
	// Tenant names whose data this ingester takes; it labels metrics and logs.
	Tenant string `json:"tenant,omitempty"`
	// LogLevel is debug, info, warn or error, default info.
	LogLevel string `json:"logLevel,omitempty"`
	// AllowAnonymous accepts requests without credentials: for local development only.
	AllowAnonymous bool `json:"allowAnonymous,omitempty"`
	// Limits bound what requests may cost.
	Limits Limits `json:"limits,omitempty"`
	// StoreTimeout bounds the store writes of one request, default 10s.
	StoreTimeout Duration `json:"storeTimeout,omitempty"`
	// ShutdownDelay keeps serving after SIGTERM, with /readyz failing, so that load balancers
	// stop sending before the listener closes. Default 0.
	ShutdownDelay Duration `json:"shutdownDelay,omitempty"`
	// ShutdownGracePeriod is how long requests in flight may take to finish on shutdown, default 30s.
	ShutdownGracePeriod Duration `json:"shutdownGracePeriod,omitempty"`
	// CORS lets browser SDKs send from the listed origins.
	CORS CORS `json:"cors,omitempty"`
}

// Limits are in bytes.
type Limits struct {
	// MaxBodyBytes bounds a request body as sent, default 20 MiB.
	MaxBodyBytes int64 `json:"maxBodyBytes,omitempty"`
	// MaxDecompressedBytes bounds a body after decompression, default 64 MiB.
	MaxDecompressedBytes int64 `json:"maxDecompressedBytes,omitempty"`
	// MaxDecompressionRatio bounds decompressed/compressed size past the first MiB, default 200.
	MaxDecompressionRatio int64 `json:"maxDecompressionRatio,omitempty"`
	// MaxInflightBytes bounds body bytes held at once; past it requests get 429. Default 64 MiB.
	MaxInflightBytes int64 `json:"maxInflightBytes,omitempty"`
}

type CORS struct {
	// AllowedOrigins are exact origins such as https://app.example.com; "*" is not accepted.
	AllowedOrigins []string `json:"allowedOrigins,omitempty"`
}

// Duration reads "10s", "1m30s" and the like.
type Duration struct{ time.Duration }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"10s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// Load reads a config file strictly: an unknown field is an error, since a typo would otherwise
// silently leave a default in place.
func Load(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	var c Config
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, c.Validate()
}

// Validate checks what the types cannot.
func (c Config) Validate() error {
	for _, o := range c.CORS.AllowedOrigins {
		if o == "*" {
			return fmt.Errorf("config: cors.allowedOrigins may not be \"*\": list the origins")
		}
	}
	for name, v := range map[string]int64{
		"limits.maxBodyBytes": c.Limits.MaxBodyBytes, "limits.maxDecompressedBytes": c.Limits.MaxDecompressedBytes,
		"limits.maxDecompressionRatio": c.Limits.MaxDecompressionRatio, "limits.maxInflightBytes": c.Limits.MaxInflightBytes,
	} {
		if v < 0 {
			return fmt.Errorf("config: %s must not be negative", name)
		}
	}
	return nil
}
