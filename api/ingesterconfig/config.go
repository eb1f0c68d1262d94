// Package ingesterconfig is the ingester's configuration file, the YAML that the operator renders into a
// Secret and the ingester reads with --config. Command-line flags override it field by field.
package ingesterconfig

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// The ingester's defaults: what a zero field of Config means. They live here, beside the fields,
// so that the ingester (server.New, its flags) and the operator (which renders this file and
// defaults the CRD to the same values) read one definition. Limits follow the OTLP spec's
// recommendations where it has one.
const (
	// DefaultMaxBodyBytes bounds a request body as sent: 20 MiB. The CRD's
	// spec.ingester.maxRequestBodyBytes defaults to the same number.
	DefaultMaxBodyBytes int64 = 20 << 20
	// DefaultMaxDecompressedBytes bounds a body after decompression: 64 MiB.
	DefaultMaxDecompressedBytes int64 = 64 << 20
	// DefaultMaxDecompressionRatio bounds decompressed/compressed size past the first MiB.
	DefaultMaxDecompressionRatio int64 = 200
	// DefaultMaxInflightBytes bounds body bytes held by all requests at once: 64 MiB.
	DefaultMaxInflightBytes int64 = 64 << 20
	// DefaultStoreTimeout bounds the store writes of one request.
	DefaultStoreTimeout = 10 * time.Second
	// DefaultShutdownGracePeriod is how long requests in flight may take to finish on shutdown.
	DefaultShutdownGracePeriod = 30 * time.Second
	// A bare ingester has no shutdown delay (nothing routes to it that needs telling).
	// KubernetesShutdownDelay is the one the operator renders for pods behind a Service: long
	// enough for endpoints and load balancers to drop a pod whose /readyz fails.
	KubernetesShutdownDelay = 5 * time.Second

	// DefaultLayout: group-committed segments, one durable write per flush shared by every
	// request in it. Measured with make bench (2 cores, 5 KiB bodies, c=32, two quiet runs of
	// 2026-12-02): 2.00x and 2.11x the requests per second of one object per block on the file
	// store; on SeaweedFS 3.54x, with 43 PUTs per 1,000 requests instead of 1,004.
	DefaultLayout = LayoutSegments
	// DefaultSegmentMaxInFlightFile is one flush at a time on a local disk: measured with make
	// bench, a second flush in flight took 5 KiB bodies from 1.44x to 1.07x the one-object-per-block
	// ingester, and 1 MiB bodies from 0.74x to 0.64x; the disk's barrier is what is shared.
	DefaultSegmentMaxInFlightFile = 1
	// DefaultSegmentMaxInFlightS3 lets four flushes write at once: an S3 PUT's latency, not the
	// store's bandwidth, is the limit.
	DefaultSegmentMaxInFlightS3 = 4
	// DefaultSegmentMaxDelayS3 lets an S3 flush wait 10 ms for more blocks: each PUT is billed.
	// Measured with make bench on SeaweedFS (5 KiB bodies, c=32, one run, side by side): no
	// linger 868 req/s and 212 PUTs per 1,000 requests; 10 ms 1,213 req/s and 33 PUTs (the
	// writes saved are SeaweedFS CPU); 25 ms 722 req/s and 50 ms 401 (clients wait), both 32 PUTs.
	// One flush in flight and no linger: 1,314 req/s but 65 PUTs. A file store has no linger: its
	// flush costs no request fee, and waiting only adds latency.
	DefaultSegmentMaxDelayS3 = 10 * time.Millisecond
	// DefaultSegmentMaxBatchBytesS3 closes an S3 flush at 128 KiB: a batch that big goes at
	// once instead of lingering, and a big request goes as PUTs in flight side by side rather than
	// in one PUT that the next requests queue behind. Measured with make bench on SeaweedFS, one
	// run side by side (2026-12-02; one object per block: 749 req/s on 5 KiB bodies at c=32, 89 on
	// 1 MiB at c=4):
	//   16 MiB (the file store's): 1,682 req/s, 31 PUTs per 1,000 requests; 1 MiB bodies 38 req/s
	//   1 MiB or 256 KiB: as 16 MiB on 5 KiB bodies (32 of them never reach it); 1 MiB bodies 80, 61
	//   128 KiB: 3,525 req/s, 41 PUTs per 1,000; 1 MiB bodies 74
	//   64 KiB: 4,095 req/s, but 83 PUTs per 1,000 (each one billed)
	// 128 KiB is the smallest bound that keeps under 50 PUTs per 1,000 requests. It cuts the
	// linger only when about 25 small requests wait at once; fewer wait the full MaxDelay.
	DefaultSegmentMaxBatchBytesS3 = 128 << 10
	// DefaultSegmentFileMode appends each flush to an open segment on a file store: one
	// fdatasync per flush where a file per segment costs an fdatasync and a directory fsync
	// (docs/contracts/storage.md §5.7). Measured with make bench (5 KiB bodies, c=32): on a
	// quiet machine 1.01, 1.20 and 0.89x the rate of a file per segment (three runs), 0.71 to
	// 1.30x in five loaded ones: as fast, within the noise. What decides is what it leaves for
	// readers: 130 files where a file per segment left 8,445 for the same 12 s (one a flush, and
	// the lakehouse lists and opens every one), for 14 MiB more peak RSS (56 against 42 MiB).
	// SegmentFileCreate is one setting away.
	DefaultSegmentFileMode = SegmentFileAppend
)

// SegmentFileMode is how the segment writer makes a flush durable on a file store.
type SegmentFileMode string

const (
	// SegmentFileAppend appends the flush to the process's open segment, sealed into ordinary
	// segments later (§5.7).
	SegmentFileAppend SegmentFileMode = "append"
	// SegmentFileCreate writes each segment of the flush to a file of its own (§5.3).
	SegmentFileCreate SegmentFileMode = "create"
)

// Layout is how the ingester writes blocks (docs/contracts/storage.md). Readers of the lake read
// both, so a lake may be written in either, or first in one and then the other.
type Layout string

const (
	// LayoutSegments packs the blocks of a flush into one segment per signal and hour (§5).
	LayoutSegments Layout = "segments"
	// LayoutBlocks writes each block as its own object (§4), as before storage v2: two barriers
	// (file) or one PUT (S3) per block. For lakes read by releases that predate segments.
	LayoutBlocks Layout = "blocks"
)

// The default listen addresses, on the ports that the operator's Service and probes also use.
var (
	// DefaultListen is the OTLP/HTTP address.
	DefaultListen = ":" + strconv.Itoa(wellknown.OTLPHTTPPort)
	// DefaultAdminListen serves /metrics, /healthz and /readyz.
	DefaultAdminListen = ":" + strconv.Itoa(wellknown.MetricsPort)
)

// Config is the whole file. Every field is optional; zero values take the ingester's defaults.
type Config struct {
	// Listen is the OTLP/HTTP address, default DefaultListen.
	Listen string `json:"listen,omitempty"`
	// AdminListen serves /metrics, /healthz and /readyz, default DefaultAdminListen.
	AdminListen string `json:"adminListen,omitempty"`
	// Storage is the store URL: file:///dir or s3://bucket/prefix?endpoint=...&region=...&path_style=true.
	Storage string `json:"storage,omitempty"`
	// Tenant names whose data this ingester takes; it labels metrics and logs.
	Tenant string `json:"tenant,omitempty"`
	// LogLevel is debug, info, warn or error, default info.
	LogLevel string `json:"logLevel,omitempty"`
	// AllowAnonymous accepts requests without credentials: for local development only. With Auth
	// also configured, a request without an Authorization header is anonymous and one with
	// credentials is still checked.
	AllowAnonymous bool `json:"allowAnonymous,omitempty"`
	// Auth is how clients prove who they are. One chain serves every signal.
	Auth Auth `json:"auth,omitzero"`
	// Limits bound what requests may cost.
	Limits Limits `json:"limits,omitzero"`
	// StoreTimeout bounds the store writes of one request, default DefaultStoreTimeout.
	StoreTimeout Duration `json:"storeTimeout,omitzero"`
	// Layout is how blocks are written: "segments" (the default) or "blocks".
	Layout Layout `json:"layout,omitempty"`
	// Segments tunes the segment writer.
	Segments Segments `json:"segments,omitzero"`
	// ShutdownDelay keeps serving after SIGTERM, with /readyz failing, so that load balancers
	// stop sending before the listener closes. Default 0; the operator renders
	// KubernetesShutdownDelay.
	ShutdownDelay Duration `json:"shutdownDelay,omitzero"`
	// ShutdownGracePeriod is how long requests in flight may take to finish on shutdown, default
	// DefaultShutdownGracePeriod.
	ShutdownGracePeriod Duration `json:"shutdownGracePeriod,omitzero"`
	// CORS lets browser SDKs send from the listed origins.
	CORS CORS `json:"cors,omitzero"`
}

// Limits are in bytes, but for the ratio.
type Limits struct {
	// MaxBodyBytes bounds a request body as sent, default DefaultMaxBodyBytes.
	MaxBodyBytes int64 `json:"maxBodyBytes,omitempty"`
	// MaxDecompressedBytes bounds a body after decompression, default DefaultMaxDecompressedBytes.
	MaxDecompressedBytes int64 `json:"maxDecompressedBytes,omitempty"`
	// MaxDecompressionRatio bounds decompressed/compressed size past the first MiB, default
	// DefaultMaxDecompressionRatio.
	MaxDecompressionRatio int64 `json:"maxDecompressionRatio,omitempty"`
	// MaxInflightBytes bounds body bytes held at once; past it requests get 429. Default
	// DefaultMaxInflightBytes.
	MaxInflightBytes int64 `json:"maxInflightBytes,omitempty"`
}

// Segments tunes the segment writer; zero fields take its defaults.
type Segments struct {
	// MaxDelay lets a flush wait this long for more blocks. The default is none on a file store
	// (a flush starts as soon as the previous one is done, which already batches under load) and
	// DefaultSegmentMaxDelayS3 on S3.
	MaxDelay Duration `json:"maxDelay,omitzero"`
	// MaxInFlight is how many flushes may write at once: default DefaultSegmentMaxInFlightFile on
	// a file store, DefaultSegmentMaxInFlightS3 on S3.
	MaxInFlight int `json:"maxInFlight,omitempty"`
	// FileMode is how a flush is made durable on a file store: "append" (the default) to an open
	// segment, or "create", a file per segment. S3 always creates.
	FileMode SegmentFileMode `json:"fileMode,omitempty"`
	// MaxBatchBytes closes a flush's batch once its blocks reach this many bytes: default
	// DefaultSegmentMaxBatchBytesS3 (128 KiB) on S3, and on a file store the writer's own
	// (groupcommit.DefaultMaxBatchBytes, 16 MiB: one write and one barrier however much it holds).
	MaxBatchBytes int `json:"maxBatchBytes,omitempty"`
}

type CORS struct {
	// AllowedOrigins are exact origins such as https://app.example.com; "*" is not accepted.
	AllowedOrigins []string `json:"allowedOrigins,omitempty"`
}

// Auth configures the authenticators. Each is optional; with none of them (and no
// allowAnonymous) the ingester refuses to start.
type Auth struct {
	// TokenFile is the path of the bearer-token file: SHA-256 hashes of tokens, with names, expiry
	// and signals (the format is tokenfile.File; `ingester token new` prints entries). The
	// operator mounts it from a Secret; it is re-read when it changes.
	TokenFile string `json:"tokenFile,omitempty"`
	// OIDC lists identity providers whose JWTs are accepted.
	OIDC []OIDCIssuer `json:"oidc,omitempty"`
	// Kubernetes lists clusters whose service-account tokens are accepted: the kube-apiserver is an
	// OIDC issuer, and a pod sends its projected token.
	Kubernetes []KubernetesIssuer `json:"kubernetes,omitempty"`
}

// OIDCIssuer is an identity provider whose JWTs are accepted.
type OIDCIssuer struct {
	// Name identifies the issuer in logs and is its metrics label ("oidc:<name>"): subjects are
	// unbounded, so they never become a label.
	Name string `json:"name"`
	// IssuerURL must equal the tokens' iss claim exactly; discovery is read from
	// <IssuerURL>/.well-known/openid-configuration. https only.
	IssuerURL string `json:"issuerURL"`
	// Audiences accepted in the aud claim; a token must carry at least one of them.
	Audiences []string `json:"audiences"`
	// CAFile is a PEM bundle to trust for discovery and key-set requests instead of the system roots.
	CAFile string `json:"caFile,omitempty"`
	// RequiredClaims must each be present in the token with this value. A JSON boolean or number
	// is compared as its text, so "true" matches true.
	RequiredClaims map[string]string `json:"requiredClaims,omitempty"`
	// Signals this issuer's callers may send; empty means all.
	Signals []string `json:"signals,omitempty"`
}

// KubernetesIssuer is a cluster whose service-account tokens are accepted. A pod sends a projected
// service-account token with one of Audiences; the subject is system:serviceaccount:<ns>:<name>.
type KubernetesIssuer struct {
	// Name identifies the cluster in logs and is its metrics label ("kubernetes:<name>").
	Name string `json:"name"`
	// IssuerURL is the apiserver's --service-account-issuer, e.g.
	// https://kubernetes.default.svc.cluster.local. Discovery and the key set are read from it.
	IssuerURL string `json:"issuerURL"`
	// Audiences accepted in the aud claim, usually [telemetrylake] (wellknown.ServiceAccountAudience).
	Audiences []string `json:"audiences"`
	// CAFile is the PEM CA of the apiserver, in a pod
	// /var/run/secrets/kubernetes.io/serviceaccount/ca.crt.
	CAFile string `json:"caFile,omitempty"`
	// TokenFile is a bearer token sent (only to the issuer's own host) when reading discovery and
	// the key set. By default the apiserver serves them only to service accounts, so in a pod this is
	// /var/run/secrets/kubernetes.io/serviceaccount/token. It is re-read on each fetch, as the
	// kubelet rotates it.
	TokenFile string `json:"tokenFile,omitempty"`
	// ServiceAccounts allowed to send, as system:serviceaccount:<namespace>:<name>.
	ServiceAccounts []string `json:"serviceAccounts,omitempty"`
	// Namespaces whose every service account may send.
	Namespaces []string `json:"namespaces,omitempty"`
	// Signals these service accounts may send; empty means all.
	Signals []string `json:"signals,omitempty"`
}

// Configured reports whether any authenticator is set up.
func (a Auth) Configured() bool {
	return a.TokenFile != "" || len(a.OIDC) > 0 || len(a.Kubernetes) > 0
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
	switch c.Layout {
	case "", LayoutSegments, LayoutBlocks:
	default:
		return fmt.Errorf("config: layout %q: want %q or %q", c.Layout, LayoutSegments, LayoutBlocks)
	}
	if c.Segments.MaxBatchBytes < 0 {
		return fmt.Errorf("config: segments.maxBatchBytes %d: want a positive size, or 0 for the default", c.Segments.MaxBatchBytes)
	}
	switch c.Segments.FileMode {
	case "", SegmentFileAppend, SegmentFileCreate:
	default:
		return fmt.Errorf("config: segments.fileMode %q: want %q or %q", c.Segments.FileMode, SegmentFileAppend, SegmentFileCreate)
	}
	if c.Segments.MaxInFlight < 0 || c.Segments.MaxDelay.Duration < 0 {
		return fmt.Errorf("config: segments.maxInFlight and segments.maxDelay must not be negative")
	}
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
	return c.Auth.validate()
}

func (a Auth) validate() error {
	names, urls := map[string]bool{}, map[string]bool{}
	checkIssuer := func(field, name, issuerURL string, audiences, signals []string) error {
		switch {
		case name == "":
			return fmt.Errorf("config: %s: every issuer needs a name (it labels metrics)", field)
		case names[name]:
			return fmt.Errorf("config: %s: issuer name %q is used twice", field, name)
		case urls[issuerURL]:
			// A JWT's iss claim picks the one entry that verifies it.
			return fmt.Errorf("config: %s %q: issuerURL %s is used by another entry; merge them", field, name, issuerURL)
		case !strings.HasPrefix(issuerURL, "https://"):
			return fmt.Errorf("config: %s %q: issuerURL %q must be an https URL", field, name, issuerURL)
		case len(audiences) == 0:
			return fmt.Errorf("config: %s %q: list the accepted audiences, e.g. [telemetrylake]", field, name)
		}
		names[name], urls[issuerURL] = true, true
		return validateSignals(fmt.Sprintf("%s %q", field, name), signals)
	}
	for _, o := range a.OIDC {
		if err := checkIssuer("auth.oidc", o.Name, o.IssuerURL, o.Audiences, o.Signals); err != nil {
			return err
		}
	}
	for _, k := range a.Kubernetes {
		if err := checkIssuer("auth.kubernetes", k.Name, k.IssuerURL, k.Audiences, k.Signals); err != nil {
			return err
		}
		if len(k.ServiceAccounts) == 0 && len(k.Namespaces) == 0 {
			return fmt.Errorf("config: auth.kubernetes %q: list the serviceAccounts or namespaces that may send", k.Name)
		}
		for _, sa := range k.ServiceAccounts {
			if parts := strings.Split(sa, ":"); len(parts) != 4 || parts[0] != "system" || parts[1] != "serviceaccount" || parts[2] == "" || parts[3] == "" {
				return fmt.Errorf("config: auth.kubernetes %q: service account %q must read system:serviceaccount:<namespace>:<name>", k.Name, sa)
			}
		}
	}
	return nil
}

// validateSignals accepts logs, metrics and traces.
func validateSignals(where string, signals []string) error {
	for _, s := range signals {
		if _, err := layout.ParseSignal(s); err != nil {
			return fmt.Errorf("config: %s: %w", where, err)
		}
	}
	return nil
}
