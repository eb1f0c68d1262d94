package builders

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

const (
	queryContainer = "serve"
	// queryDatabase is the database name in the connection string: the server answers any name
	// with the tenant's one lake, and lake says what it is.
	queryDatabase = "lake"
	// querySSLMode: the operator gives the server no certificate, so in-cluster connections are
	// plain; a client that asks for TLS (sslmode=require) is refused by the server's 'N'.
	querySSLMode = "disable"
	// The part cache and DuckDB's spill files share the emptyDir at /tmp. The kubelet evicts a pod
	// whose emptyDir passes its sizeLimit, so the cache, which the server trims by least recent
	// use, is bounded to half of it, leaving the other half to spill. These are starting points,
	// not measured, and not yet in the spec.
	queryScratchLimit  = "2Gi"
	queryCacheMaxBytes = 1 << 30
	queryCacheDir      = scratchDir + "/parts"
)

// QueryEnabled reports whether lake runs a query server: spec.query.enabled, and never for the
// filesystem provisioner, whose ReadWriteOnce volume only the ingester can mount.
func QueryEnabled(in Inputs) bool {
	return in.Lake.Spec.Query.Enabled && !in.filesystem()
}

// querySelectorLabels select the query server's pods; like selectorLabels, they never change.
func querySelectorLabels(lake *v1alpha1.TelemetryLake) map[string]string {
	return map[string]string{
		wellknown.LabelInstance:  lake.Name,
		wellknown.LabelComponent: wellknown.ComponentQuery,
	}
}

// QueryDeployment is the query server, <name>-query: `lakehouse serve` over the tenant's store on
// port 5432, /healthz and /metrics on 9090.
//
//   - It holds the read-only key of <name>-query-storage, never the ingester's: a query server
//     broken into can read the tenant's lake and nothing else, and change nothing.
//   - Its passwords are the tokens of spec.auth.tokens whose permissions include query: it mounts
//     the ingester's token file (<name>-ingester-auth), which the server filters by permission and
//     reads at each login, so a rotation is in force at the next connection without a roll.
//   - The part cache is on an emptyDir (see queryScratchLimit); /tmp is the only writable path.
//   - configHash (ConfigHash of the read-only key's Secret) rolls the pods when the key changes.
//
// It is nil when QueryEnabled is false; the controller deletes an existing one then.
func QueryDeployment(in Inputs, configHash string) *appsv1.Deployment {
	if !QueryEnabled(in) {
		return nil
	}
	lake := in.Lake
	spec := lake.Spec.Query
	names := NamesFor(lake)
	replicas := defaultQueryReplicas
	if spec.Replicas != nil {
		replicas = *spec.Replicas
	}
	image := spec.Image
	if image == "" {
		image = in.LakehouseImage
	}
	env := append(append(credentialsEnv(in, names.QueryStorageSecret), corev1.EnvVar{Name: "TMPDIR", Value: scratchDir}), caEnv(in)...)
	sources := append([]corev1.VolumeProjection{secretFile(names.AuthSecret, wellknown.SecretKeyTokens, wellknown.TokenFile)},
		credentialsFiles(in, names.QueryStorageSecret)...)
	scratchLimit := resource.MustParse(queryScratchLimit)
	podLabels := labels(lake, wellknown.ComponentQuery)
	health := corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Path: "/healthz", Port: intstr.FromString(wellknown.MetricsPortName), Scheme: corev1.URISchemeHTTP,
	}}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: appsv1.SchemeGroupVersion.String(), Kind: "Deployment"},
		ObjectMeta: objectMeta(lake, names.Query, wellknown.ComponentQuery),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: querySelectorLabels(lake)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      podLabels,
					Annotations: map[string]string{wellknown.AnnotationConfigHash: configHash},
				},
				Spec: corev1.PodSpec{
					ServiceAccountName:           names.Ingester,
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					SecurityContext:              restrictedPodSecurityContext(),
					Containers: []corev1.Container{{
						Name:  queryContainer,
						Image: image,
						Args: []string{
							"serve",
							"--storage", in.StorageURL,
							"--listen", fmt.Sprintf(":%d", wellknown.PostgresPort),
							"--admin-listen", fmt.Sprintf(":%d", wellknown.MetricsPort),
							"--token-file", wellknown.TokenFile,
							"--cache", queryCacheDir,
							"--cache-max-bytes", strconv.FormatInt(queryCacheMaxBytes, 10),
						},
						Ports: []corev1.ContainerPort{
							{Name: wellknown.PostgresPortName, ContainerPort: wellknown.PostgresPort, Protocol: corev1.ProtocolTCP},
							{Name: wellknown.MetricsPortName, ContainerPort: wellknown.MetricsPort, Protocol: corev1.ProtocolTCP},
						},
						Env:       env,
						Resources: *spec.Resources.DeepCopy(),
						VolumeMounts: []corev1.VolumeMount{
							{Name: configVolume, MountPath: wellknown.ConfigMountPath, ReadOnly: true},
							{Name: scratchVolume, MountPath: scratchDir},
						},
						LivenessProbe:   &corev1.Probe{ProbeHandler: health, PeriodSeconds: 10, FailureThreshold: 3},
						ReadinessProbe:  &corev1.Probe{ProbeHandler: health, PeriodSeconds: 5, FailureThreshold: 2},
						SecurityContext: restrictedContainerSecurityContext(),
					}},
					Volumes: []corev1.Volume{{
						Name: configVolume,
						VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
							Sources: sources, DefaultMode: ptr.To(int32(0o440)),
						}},
					}, {
						Name:         scratchVolume,
						VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &scratchLimit}},
					}},
					NodeSelector: maps.Clone(lake.Spec.Ingester.NodeSelector),
					Tolerations:  slices.Clone(lake.Spec.Ingester.Tolerations),
				},
			},
		},
	}
}

// QueryService is <name>-query, in front of the query server's pods: PostgreSQL on postgres
// (5432) and /metrics on metrics (9090). It is nil when QueryEnabled is false.
func QueryService(in Inputs) *corev1.Service {
	if !QueryEnabled(in) {
		return nil
	}
	lake := in.Lake
	pg := servicePort(wellknown.PostgresPortName, wellknown.PostgresPort)
	pg.AppProtocol = ptr.To("postgresql")
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: corev1.SchemeGroupVersion.String(), Kind: "Service"},
		ObjectMeta: objectMeta(lake, NamesFor(lake).Query, wellknown.ComponentQuery),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: querySelectorLabels(lake),
			Ports:    []corev1.ServicePort{pg, servicePort(wellknown.MetricsPortName, wellknown.MetricsPort)},
		},
	}
}

// QueryHost is the in-cluster address of lake's query server, host:port.
func QueryHost(lake *v1alpha1.TelemetryLake) string {
	return fmt.Sprintf("%s.%s.svc:%d", NamesFor(lake).Query, lake.Namespace, wellknown.PostgresPort)
}

// QueryConnectionSecret is <name>-query-connection: what a client needs besides a password, which
// is a token of spec.auth.tokens with the query permission (its own Secret, <name>-token-<token>).
//
//   - url: postgres://<user>@<host>:5432/lake?sslmode=disable; the user is the first query token's
//     name (the server logs it; any name works), and libpq reads the password from PGPASSWORD.
//   - datasource.yaml: a Grafana provisioning file for its built-in PostgreSQL data source, whose
//     password is $TELEMETRYLAKE_QUERY_TOKEN, which Grafana expands from its environment: set it
//     from the token Secret's token key.
//
// It holds no token. It is nil when QueryEnabled is false.
func QueryConnectionSecret(in Inputs) *corev1.Secret {
	if !QueryEnabled(in) {
		return nil
	}
	lake := in.Lake
	user, passwordFrom := "grafana", "no token of spec.auth.tokens has the query permission yet: add one with permissions: [query]"
	for _, t := range lake.Spec.Auth.Tokens {
		if slices.Contains(t.Permissions, v1alpha1.PermissionQuery) {
			user, passwordFrom = t.Name, "set it from the token key of Secret "+NamesFor(lake).TokenSecret(t.Name)
			break
		}
	}
	// Grafana's data-source uids have at most 40 characters; a hash of the lake's namespace and
	// name is unique and stays the same when the lake is re-created.
	sum := sha256.Sum256([]byte(lake.Namespace + "/" + lake.Name))
	uid := "telemetrylake-" + hex.EncodeToString(sum[:8])
	host := QueryHost(lake)
	url := fmt.Sprintf("postgres://%s@%s/%s?sslmode=%s", user, host, queryDatabase, querySSLMode)
	datasource := fmt.Sprintf(`# Grafana data source for TelemetryLake %[1]s/%[2]s (put it in /etc/grafana/provisioning/datasources/).
# The password is a token with the query permission, TELEMETRYLAKE_QUERY_TOKEN in Grafana's
# environment: %[3]s.
apiVersion: 1
datasources:
  - name: TelemetryLake %[1]s/%[2]s
    uid: %[8]s
    type: grafana-postgresql-datasource
    url: %[4]s
    user: %[5]s
    jsonData:
      database: %[6]s
      sslmode: %[7]s
      postgresVersion: 1600
      timescaledb: false
    secureJsonData:
      password: $TELEMETRYLAKE_QUERY_TOKEN
`, lake.Namespace, lake.Name, passwordFrom, host, user, queryDatabase, querySSLMode, uid)
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: corev1.SchemeGroupVersion.String(), Kind: "Secret"},
		ObjectMeta: objectMeta(lake, NamesFor(lake).QueryConnectionSecret, wellknown.ComponentQuery),
		Type:       corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			wellknown.SecretKeyConnectionURL:     []byte(url),
			wellknown.SecretKeyGrafanaDataSource: []byte(datasource),
		},
	}
}
