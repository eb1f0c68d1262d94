// Package wellknown holds the names that the operator and the ingester must agree on: ports,
// label and annotation keys, Secret keys, mount paths and the field owner. It is the one place for
// each of them, and it imports nothing, so that the ingester can use it too: its OTLP routes are
// under OTLPBasePath, and its default listen addresses (api/ingesterconfig) are built from the
// ports here.
package wellknown

// Ports of the ingester, and the Service port names that expose them.
const (
	OTLPHTTPPort     = 4318
	OTLPHTTPPortName = "otlp-http"
	MetricsPort      = 9090
	MetricsPortName  = "metrics"
)

// The query server's (`lakehouse serve`, spec.query) PostgreSQL port, and its Service port name.
const (
	PostgresPort     = 5432
	PostgresPortName = "postgres"
)

// NonRootUID is the user and group of every TelemetryLake image ("nonroot" in its /etc/passwd,
// as in distroless), and the runAsUser/runAsGroup of the pods the operator renders: the pods'
// restricted security context and the images built by hack/images must agree on it.
const NonRootUID = 65532

// OTLPBasePath is what SDKs append /v1/<signal> to.
const OTLPBasePath = "/ingestion/otlp"

// Labels on every object the operator creates. Nothing is copied from the TelemetryLake's own
// labels, so that GitOps tools tracking it by label are not confused by its children.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelComponent = "app.kubernetes.io/component"

	AppName   = "telemetrylake"
	ManagedBy = "telemetrylake-operator"

	ComponentIngester  = "ingester"
	ComponentStorage   = "storage"
	ComponentAuth      = "auth"
	ComponentToken     = "token"
	ComponentConfig    = "config"
	ComponentLakehouse = "lakehouse"
	ComponentQuery     = "query"
)

// Annotations.
const (
	// AnnotationDefaultClass marks the LakeStorageClass used when a TelemetryLake names none.
	AnnotationDefaultClass = "lake.telemetrylake.io/is-default-class"
	// AnnotationRotateToken on a TelemetryLake names a token to rotate.
	AnnotationRotateToken = "lake.telemetrylake.io/rotate-token"
	// AnnotationConfigHash on the ingester pod template rolls the pods when their config or
	// credentials change.
	AnnotationConfigHash = "lake.telemetrylake.io/config-hash"
	// A token's state lives on its Secret, so the controller can read it back: when it was issued,
	// and during a rotation the hash of the token it replaced and when that one stops being valid
	// (RFC 3339), and which rotate-token request it answered, so that one request rotates once.
	AnnotationTokenIssuedAt         = "lake.telemetrylake.io/issued-at"
	AnnotationTokenPreviousSHA256   = "lake.telemetrylake.io/previous-sha256"
	AnnotationTokenPreviousNotAfter = "lake.telemetrylake.io/previous-not-after"
	AnnotationTokenRotationHandled  = "lake.telemetrylake.io/rotation-handled"
	// What the storage Secret's credentials were provisioned for lives on it: a hash of every
	// input of the store calls (placement, retention, the class's generation, its admin Secrets'
	// versions, the credentials themselves), and when the store was last called (RFC 3339). A
	// reconcile whose inputs hash the same, before the periodic check is due, calls no store.
	AnnotationStorageProvisioned   = "lake.telemetrylake.io/provisioned"
	AnnotationStorageProvisionedAt = "lake.telemetrylake.io/provisioned-at"
)

// FieldOwner is the server-side apply field manager of everything the operator writes.
const FieldOwner = "telemetrylake-operator"

// Finalizer guards a TelemetryLake until its credentials are revoked (and, with the Delete
// policy, its data removed).
const Finalizer = "lake.telemetrylake.io/cleanup"

// Secret keys.
const (
	// Of a token Secret, ready for envFrom.
	SecretKeyToken        = "token"
	SecretKeyOTLPEndpoint = "OTEL_EXPORTER_OTLP_ENDPOINT"
	SecretKeyOTLPHeaders  = "OTEL_EXPORTER_OTLP_HEADERS"
	// Of storage credentials (the admin Secret and a tenant's <name>-storage), as the AWS SDKs read
	// them from the environment.
	SecretKeyAccessKeyID     = "AWS_ACCESS_KEY_ID"
	SecretKeySecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	// Of a tenant's storage Secret in credentials mode AssumeRole: the STS session's token beside
	// its key, and the whole session (key, secret, token, expiry) as one JSON file, the form the
	// pods read (see EnvStorageCredentialsFile).
	SecretKeySessionToken    = "AWS_SESSION_TOKEN"
	SecretKeyCredentialsFile = "credentials.json"
	// Of a CA Secret.
	SecretKeyCA = "ca.crt"
	// Of the ingester's config Secret and its auth Secret.
	SecretKeyConfig = "config.yaml"
	SecretKeyTokens = "tokens.yaml"
	// Of the query server's connection Secret: a postgres:// URL without a password (the password
	// is a token with the query permission) and a Grafana data-source provisioning file.
	SecretKeyConnectionURL     = "url"
	SecretKeyGrafanaDataSource = "datasource.yaml"
)

// Paths inside the ingester container.
const (
	ConfigMountPath = "/etc/telemetrylake"
	ConfigFile      = ConfigMountPath + "/" + SecretKeyConfig
	AuthMountPath   = "/etc/telemetrylake/auth"
	TokenFile       = AuthMountPath + "/" + SecretKeyTokens
	DataMountPath   = "/var/lib/telemetrylake"
)

// EnvStorageCredentialsFile, in a pod's environment, names the file that holds its storage
// credentials (lake/s3client reads it, and reads it again as it changes), instead of
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Credentials mode AssumeRole uses it: its sessions
// expire and are replaced in the storage Secret, which the kubelet updates in a mounted volume but
// never in a running container's environment.
const EnvStorageCredentialsFile = "TELEMETRYLAKE_STORAGE_CREDENTIALS_FILE"

// ServiceAccountAudience is the audience of projected service-account tokens the ingester accepts.
const ServiceAccountAudience = "telemetrylake"
