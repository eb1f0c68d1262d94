package v1alpha1

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/telemetrylake/telemetrylake/api/tokenfile"
)

// Signal is an OTLP signal.
// +kubebuilder:validation:Enum=logs;metrics;traces
type Signal string

// TelemetryLakeSpec is what a tenant asks for: an authenticated OTLP/HTTP endpoint whose data lands
// in the tenant's own bucket or prefix.
type TelemetryLakeSpec struct {
	// storageClassName names the LakeStorageClass to provision from; empty means the class
	// annotated lake.telemetrylake.io/is-default-class: "true".
	// +optional
	StorageClassName string `json:"storageClassName,omitempty"`

	// ingester configures the ingester Deployment that receives the tenant's OTLP.
	// +kubebuilder:default={}
	// +optional
	Ingester IngesterSpec `json:"ingester,omitempty"`

	// auth says who may send. With nothing configured, nobody can.
	// +kubebuilder:default={}
	// +optional
	Auth AuthSpec `json:"auth,omitempty"`

	// retentionDays overrides the storage class's retention. 0 keeps telemetry forever.
	// +kubebuilder:validation:Minimum=0
	// +optional
	RetentionDays *int32 `json:"retentionDays,omitempty"`

	// service configures the ingester's Service.
	// +kubebuilder:default={}
	// +optional
	Service ServiceSpec `json:"service,omitempty"`

	// ingress exposes the ingester outside the cluster.
	// +optional
	Ingress *IngressSpec `json:"ingress,omitempty"`

	// deletionPolicy overrides the storage class's: Retain keeps the data when this object is
	// deleted, Delete removes it. Credentials are revoked either way.
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// lakehouse turns the stored blocks into the Parquet tables that `lakehouse sql` and other
	// engines read, on a schedule.
	// +kubebuilder:default={}
	// +optional
	Lakehouse LakehouseSpec `json:"lakehouse,omitempty"`

	// query serves the lake's tables over the PostgreSQL wire protocol (`lakehouse serve`), to
	// Grafana, psql and BI tools, with a read-only storage key of its own.
	// +kubebuilder:default={}
	// +optional
	Query QuerySpec `json:"query,omitempty"`
}

// QuerySpec runs `lakehouse serve` for the lake: a Deployment and a Service <name>-query on port
// 5432. Its pods hold a read-only storage key (<name>-query-storage), never the ingester's, and
// accept as a password any spec.auth.tokens entry whose permissions include query. The Secret
// <name>-query-connection holds a connection string and a Grafana data-source file.
type QuerySpec struct {
	// enabled runs the query server. The filesystem provisioner has none: its volume can be
	// mounted by the ingester alone.
	// +kubebuilder:default=false
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// replicas of the query server.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// image overrides the lakehouse image the operator was built with.
	// +optional
	Image string `json:"image,omitempty"`

	// resources of the query container. DuckDB sizes its memory from the container's limit.
	// +kubebuilder:default={requests: {cpu: "100m", memory: "256Mi"}, limits: {memory: "1Gi"}}
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
}

// LakehouseSpec schedules `lakehouse materialize` for the lake, as a CronJob that runs with the
// tenant's own storage credentials. Queries never wait for it: hours not yet materialized are
// decoded on the fly.
type LakehouseSpec struct {
	// enabled runs the materialization CronJob. The filesystem provisioner has none: its volume
	// can be mounted by the ingester alone.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// schedule of the CronJob, in cron syntax.
	// +kubebuilder:default="*/15 * * * *"
	// +kubebuilder:validation:MinLength=9
	// +optional
	Schedule string `json:"schedule,omitempty"`

	// image overrides the lakehouse image the operator was built with.
	// +optional
	Image string `json:"image,omitempty"`

	// resources of the materialization container.
	// +kubebuilder:default={requests: {cpu: "100m", memory: "256Mi"}, limits: {memory: "1Gi"}}
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
}

// IngesterSpec shapes the ingester Deployment.
// +kubebuilder:validation:XValidation:rule="!has(self.autoscaling) || self.autoscaling.minReplicas <= self.autoscaling.maxReplicas",message="autoscaling.minReplicas must not exceed autoscaling.maxReplicas"
type IngesterSpec struct {
	// replicas of the ingester when autoscaling is not set.
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=0
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// autoscaling, when set, gives the ingester a HorizontalPodAutoscaler and replicas is ignored.
	// +optional
	Autoscaling *AutoscalingSpec `json:"autoscaling,omitempty"`

	// resources of the ingester container.
	// +kubebuilder:default={requests: {cpu: "100m", memory: "128Mi"}, limits: {memory: "256Mi"}}
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// image overrides the ingester image the operator was built with.
	// +optional
	Image string `json:"image,omitempty"`

	// nodeSelector of the ingester pods.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// tolerations of the ingester pods.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// affinity of the ingester pods.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// maxRequestBodyBytes bounds one request body as sent (compressed).
	// +kubebuilder:default=20971520
	// +kubebuilder:validation:Minimum=1024
	// +optional
	MaxRequestBodyBytes *int64 `json:"maxRequestBodyBytes,omitempty"`

	// logLevel of the ingester.
	// +kubebuilder:validation:Enum=debug;info;warn;error
	// +kubebuilder:default=info
	// +optional
	LogLevel string `json:"logLevel,omitempty"`
}

// AutoscalingSpec configures a HorizontalPodAutoscaler on CPU.
type AutoscalingSpec struct {
	// minReplicas is the floor.
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +optional
	MinReplicas int32 `json:"minReplicas,omitempty"`

	// maxReplicas is the ceiling.
	// +kubebuilder:validation:Minimum=1
	MaxReplicas int32 `json:"maxReplicas"`

	// targetCPUUtilizationPercentage is the average CPU use, of requests, to scale at.
	// +kubebuilder:default=70
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	TargetCPUUtilizationPercentage int32 `json:"targetCPUUtilizationPercentage,omitempty"`
}

// AuthSpec lists the credentials the ingester accepts. All of them work side by side.
type AuthSpec struct {
	// tokens the operator generates, one Secret each, named <lake>-token-<name>, holding the keys
	// token, OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS for envFrom.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Tokens []TokenSpec `json:"tokens,omitempty"`

	// oidc issuers whose tokens are accepted.
	// +kubebuilder:validation:MaxItems=16
	// +optional
	OIDC []OIDCIssuer `json:"oidc,omitempty"`

	// serviceAccounts may send with their projected service-account token (audience
	// telemetrylake): no long-lived secret at all.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	ServiceAccounts []ServiceAccountRef `json:"serviceAccounts,omitempty"`

	// allowAnonymous accepts requests without credentials. Never in production.
	// +kubebuilder:default=false
	// +optional
	AllowAnonymous bool `json:"allowAnonymous,omitempty"`

	// rotationOverlap is how long a rotated token stays valid beside its successor.
	// +kubebuilder:default="24h"
	// +optional
	RotationOverlap *metav1.Duration `json:"rotationOverlap,omitempty"`
}

// DefaultRotationOverlap is spec.auth.rotationOverlap when it is not set. The +kubebuilder:default
// marker above says the same for the API server, and defaults_test.go keeps the two equal; the
// controller falls back on this for an object that was not defaulted.
const DefaultRotationOverlap = 24 * time.Hour

// TokenSpec asks for one generated bearer token.
type TokenSpec struct {
	// name of the token; its Secret is <lake>-token-<name>.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=40
	Name string `json:"name"`

	// signals the token may send; empty means all.
	// +listType=set
	// +optional
	Signals []Signal `json:"signals,omitempty"`

	// permissions of the token: ingest (send to the ingester) and query (the password of the
	// query server, spec.query). Empty means ingest only, so that no token issued for sending
	// reads the lake unless granted.
	// +listType=set
	// +kubebuilder:validation:MaxItems=2
	// +optional
	Permissions []Permission `json:"permissions,omitempty"`

	// expiresAfter makes the token invalid this long after it was issued.
	// +optional
	ExpiresAfter *metav1.Duration `json:"expiresAfter,omitempty"`
}

// Permission is what a token may be used for (api/tokenfile's permissions).
// +kubebuilder:validation:Enum=ingest;query
type Permission string

// The permissions of a token: the token file's own (the Enum marker above must list the same).
const (
	PermissionIngest Permission = tokenfile.PermissionIngest
	PermissionQuery  Permission = tokenfile.PermissionQuery
)

// OIDCIssuer is an identity provider whose tokens are accepted.
type OIDCIssuer struct {
	// issuerURL is the issuer, as in its tokens' iss claim.
	// +kubebuilder:validation:Pattern=`^https://`
	IssuerURL string `json:"issuerURL"`

	// audiences accepted in the aud claim.
	// +kubebuilder:validation:MinItems=1
	Audiences []string `json:"audiences"`

	// caSecretRef names a Secret in this namespace whose key ca.crt signs the issuer's
	// certificate.
	// +optional
	CASecretRef *corev1.LocalObjectReference `json:"caSecretRef,omitempty"`

	// requiredClaims must all be present with these exact string values.
	// +optional
	RequiredClaims map[string]string `json:"requiredClaims,omitempty"`
}

// ServiceAccountRef names service accounts allowed to send. An empty name allows every service
// account of the namespace.
type ServiceAccountRef struct {
	// namespace of the service account; empty means this TelemetryLake's namespace.
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// name of the service account; empty means all of the namespace.
	// +optional
	Name string `json:"name,omitempty"`
}

// ServiceSpec shapes the ingester's Service.
type ServiceSpec struct {
	// type of the Service.
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	// +kubebuilder:default=ClusterIP
	// +optional
	Type corev1.ServiceType `json:"type,omitempty"`

	// annotations on the Service, e.g. for a cloud load balancer.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// IngressSpec exposes the ingester through an Ingress.
type IngressSpec struct {
	// host name the Ingress serves.
	// +kubebuilder:validation:MinLength=1
	Host string `json:"host"`

	// className of the Ingress controller; empty uses the cluster default.
	// +optional
	ClassName string `json:"className,omitempty"`

	// tlsSecretName holds the certificate for host; empty serves plain HTTP.
	// +optional
	TLSSecretName string `json:"tlsSecretName,omitempty"`

	// annotations on the Ingress, e.g. to raise the controller's body size limit to the
	// ingester's (ingress-nginx: nginx.ingress.kubernetes.io/proxy-body-size: 20m).
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// TelemetryLakeStatus is what the operator last observed.
type TelemetryLakeStatus struct {
	// observedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (the ingester pods of this generation are available, and the query
	// server's with spec.query), StorageReady, CredentialsReady, IngesterAvailable and, with
	// spec.query, QueryAvailable. Their reasons are listed in conditions.go.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// endpoint is the in-cluster base URL for OTEL_EXPORTER_OTLP_ENDPOINT.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// queryEndpoint is the in-cluster host:port of the query server (spec.query), whose
	// connection string and Grafana data source are in Secret <name>-query-connection.
	// +optional
	QueryEndpoint string `json:"queryEndpoint,omitempty"`

	// tokens lists the generated tokens' Secrets.
	// +optional
	Tokens []TokenStatus `json:"tokens,omitempty"`

	// storage says where the data lands.
	// +optional
	Storage *StorageStatus `json:"storage,omitempty"`

	// replicas of the ingester, for the scale subresource.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// readyReplicas of the ingester.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// selector of the ingester pods, for the scale subresource.
	// +optional
	Selector string `json:"selector,omitempty"`
}

// TokenStatus describes one generated token.
type TokenStatus struct {
	// name of the token.
	Name string `json:"name"`
	// secretName holds the token and ready-to-use OTEL_EXPORTER_OTLP_* variables.
	SecretName string `json:"secretName"`
	// expiresAt, when the token expires.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
}

// StorageStatus says where a lake's data is.
type StorageStatus struct {
	// bucket holding the data.
	// +optional
	Bucket string `json:"bucket,omitempty"`
	// prefix of the data in the bucket.
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// credentialsSecretName holds the tenant's scoped storage credentials.
	// +optional
	CredentialsSecretName string `json:"credentialsSecretName,omitempty"`
}

// TelemetryLake is a tenant's OpenTelemetry ingestion lake: an authenticated OTLP/HTTP endpoint
// and the bucket its data lands in.
// +kubebuilder:object:root=true
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 54 && self.metadata.name.matches('^[a-z]')",message="a TelemetryLake name must start with a letter and have at most 54 characters: its Service, <name>-ingester, must be a DNS label"
// +kubebuilder:resource:shortName=tl
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.ingester.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`
// +kubebuilder:printcolumn:name="Replicas",type=string,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TelemetryLake struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TelemetryLakeSpec   `json:"spec,omitempty"`
	Status TelemetryLakeStatus `json:"status,omitempty"`
}

// TelemetryLakeList is a list of TelemetryLakes.
// +kubebuilder:object:root=true
type TelemetryLakeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TelemetryLake `json:"items"`
}

func init() {
	SchemeBuilder.Register(&TelemetryLake{}, &TelemetryLakeList{})
}
