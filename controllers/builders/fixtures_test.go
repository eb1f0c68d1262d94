package builders

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/telemetrylake/telemetrylake/api/v1alpha1"
)

// The spec variants every builder is tested with. Each is the Inputs the controller would resolve
// for one TelemetryLake; the golden files are named <kind>_<variant>.yaml.
const (
	// minimal: a lake with only the CRD's defaults, on an s3-iam class.
	variantMinimal = "minimal"
	// single: replicas 1, so no PodDisruptionBudget.
	variantSingle = "single"
	// autoscaling: a HorizontalPodAutoscaler owns the replicas.
	variantAutoscaling = "autoscaling"
	// autoscaling-min1: autoscaling from one replica, so no PodDisruptionBudget.
	variantAutoscalingMin1 = "autoscaling-min1"
	// filesystem: a volume and one replica, whatever replicas and autoscaling say; Retain.
	variantFilesystem = "filesystem"
	// filesystem-delete: the lake overrides the class's Retain with Delete.
	variantFilesystemDelete = "filesystem-delete"
	// ingress-tls: an Ingress with a class and TLS, and a LoadBalancer Service with annotations.
	variantIngressTLS = "ingress-tls"
	// ingress-plain: an Ingress with neither class nor TLS.
	variantIngressPlain = "ingress-plain"
	// auth: OIDC issuers (two sharing a CA Secret), service accounts, tokens with signals, on an
	// s3-static class with a CA.
	variantAuth = "auth"
	// scheduling: custom resources, node selector, tolerations, affinity, image, limits.
	variantScheduling = "scheduling"
	// undefaulted: a lake that never went through the API server's defaulting.
	variantUndefaulted = "undefaulted"
	// query: spec.query with two replicas, a token that may query and one that may only send.
	variantQuery = "query"
	// sessions: an s3-iam class in credentials mode AssumeRole with a CA, spec.query: STS sessions
	// in the storage Secrets, mounted as files.
	variantSessions = "sessions"
)

var allVariants = []string{
	variantMinimal, variantSingle, variantAutoscaling, variantAutoscalingMin1, variantFilesystem,
	variantFilesystemDelete, variantIngressTLS, variantIngressPlain, variantAuth, variantScheduling,
	variantUndefaulted, variantQuery, variantSessions,
}

const (
	testImage          = "ghcr.io/telemetrylake/ingester:v0.1.0"
	testLakehouseImage = "ghcr.io/telemetrylake/lakehouse:test"
	testIssuerURL      = "https://kubernetes.default.svc.cluster.local"
	// testHash stands for ConfigHash in the per-kind goldens of the Deployment; Build computes it.
	testHash = "0123456789abcdef"
)

// inputs returns fresh Inputs for a variant; tests may change them.
func inputs(variant string) Inputs {
	in := Inputs{
		Lake:           defaultedLake(),
		Class:          s3IAMClass(),
		IngesterImage:  testImage,
		LakehouseImage: testLakehouseImage,
		StorageURL:     "s3://tl-shop-team-a/?endpoint=http%3A%2F%2Fseaweedfs.storage.svc%3A8333&path_style=true&region=us-east-1",
		Credentials: &StorageCredentials{AccessKeyID: "AKIATENANTTEAMA", SecretAccessKey: "tenant/team-a/secret",
			ProvisionedHash: "0123456789abcdef", ProvisionedAt: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)},
		ServiceAccountIssuer: testIssuerURL,
	}
	spec := &in.Lake.Spec
	switch variant {
	case variantMinimal:
	case variantSingle:
		spec.Ingester.Replicas = ptr.To[int32](1)
	case variantAutoscaling:
		spec.Ingester.Autoscaling = &v1alpha1.AutoscalingSpec{MinReplicas: 3, MaxReplicas: 12, TargetCPUUtilizationPercentage: 60}
	case variantAutoscalingMin1:
		spec.Ingester.Autoscaling = &v1alpha1.AutoscalingSpec{MinReplicas: 1, MaxReplicas: 4, TargetCPUUtilizationPercentage: 70}
	case variantFilesystem, variantFilesystemDelete:
		in.Class = filesystemClass()
		in.StorageURL = FilesystemStorageURL
		in.Credentials = nil
		spec.Ingester.Replicas = ptr.To[int32](3)
		spec.Ingester.Autoscaling = &v1alpha1.AutoscalingSpec{MinReplicas: 2, MaxReplicas: 5, TargetCPUUtilizationPercentage: 70}
		if variant == variantFilesystemDelete {
			spec.DeletionPolicy = v1alpha1.DeletionDelete
		}
	case variantIngressTLS:
		spec.Ingress = &v1alpha1.IngressSpec{Host: "otlp.team-a.example.com", ClassName: "nginx", TLSSecretName: "otlp-team-a-tls",
			Annotations: map[string]string{"nginx.ingress.kubernetes.io/proxy-body-size": "20m"}}
		spec.Service = v1alpha1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer,
			Annotations: map[string]string{
				"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
				"service.beta.kubernetes.io/aws-load-balancer-type":   "nlb",
			},
		}
	case variantIngressPlain:
		spec.Ingress = &v1alpha1.IngressSpec{Host: "otlp.team-a.internal"}
	case variantAuth:
		in.Class = s3StaticClass()
		in.StorageURL = "s3://telemetry/shop/team-a?endpoint=https%3A%2F%2Frgw.example.com&path_style=true&region=eu-west-1"
		in.Credentials = &StorageCredentials{AccessKeyID: "RGWSTATICKEY", SecretAccessKey: "rgw/static/secret", CA: []byte("-----BEGIN CERTIFICATE-----\nMIIB...rgw-ca...\n-----END CERTIFICATE-----\n")}
		in.OIDCCAs = map[string][]byte{"corp-ca": []byte("-----BEGIN CERTIFICATE-----\nMIIB...corp-ca...\n-----END CERTIFICATE-----\n")}
		spec.Auth = v1alpha1.AuthSpec{
			Tokens: []v1alpha1.TokenSpec{
				{Name: "claude", Signals: []v1alpha1.Signal{"logs", "metrics"}},
				{Name: "checkout", ExpiresAfter: &metav1.Duration{Duration: 90 * 24 * time.Hour}},
			},
			OIDC: []v1alpha1.OIDCIssuer{
				{
					IssuerURL:      "https://keycloak.example.com/realms/shop",
					Audiences:      []string{"telemetrylake", "otel"},
					CASecretRef:    &corev1.LocalObjectReference{Name: "corp-ca"},
					RequiredClaims: map[string]string{"groups": "telemetry-writers", "email_verified": "true"},
				},
				{IssuerURL: "https://token.actions.githubusercontent.com", Audiences: []string{"https://github.com/shop"}},
				{
					IssuerURL:   "https://keycloak.example.com/realms/ci/",
					Audiences:   []string{"telemetrylake"},
					CASecretRef: &corev1.LocalObjectReference{Name: "corp-ca"},
				},
			},
			ServiceAccounts: []v1alpha1.ServiceAccountRef{
				{Name: "web"},
				{Namespace: "payments"},
				{Namespace: "payments", Name: "api"}, // covered by the whole namespace
				{Namespace: "batch", Name: "exporter"},
				{Name: "web"}, // a duplicate
			},
			RotationOverlap: &metav1.Duration{Duration: 24 * time.Hour},
		}
		in.Tokens = authTokens(spec.Auth.Tokens)
	case variantScheduling:
		spec.Ingester.Image = "registry.example.com/mirror/ingester:v0.1.0-patched"
		spec.Ingester.LogLevel = "debug"
		spec.Ingester.MaxRequestBodyBytes = ptr.To[int64](8 << 20)
		spec.Ingester.Replicas = ptr.To[int32](4)
		spec.Ingester.Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")},
		}
		spec.Ingester.NodeSelector = map[string]string{"node.kubernetes.io/pool": "telemetry", "kubernetes.io/arch": "arm64"}
		spec.Ingester.Tolerations = []corev1.Toleration{
			{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "telemetry", Effect: corev1.TaintEffectNoSchedule},
			{Key: "spot", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](120)},
		}
		spec.Ingester.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "topology.kubernetes.io/zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"eu-west-1a", "eu-west-1b"}}},
			}}},
		}}
	case variantUndefaulted:
		in.Lake.Spec = v1alpha1.TelemetryLakeSpec{}
	case variantQuery:
		spec.Query = v1alpha1.QuerySpec{
			Enabled:  true,
			Replicas: ptr.To[int32](2),
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
			},
		}
		spec.Auth.Tokens = []v1alpha1.TokenSpec{
			{Name: "claude"},
			{Name: "grafana", Permissions: []v1alpha1.Permission{v1alpha1.PermissionQuery, v1alpha1.PermissionIngest, v1alpha1.PermissionQuery}},
		}
		in.Tokens = authTokens(spec.Auth.Tokens)
		in.QueryCredentials = &StorageCredentials{AccessKeyID: "AKIAQUERYTEAMA", SecretAccessKey: "query/team-a/secret",
			ProvisionedHash: "fedcba9876543210", ProvisionedAt: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	case variantSessions:
		in.Class = assumeRoleClass()
		ca := []byte("-----BEGIN CERTIFICATE-----\nMIIB...store-ca...\n-----END CERTIFICATE-----\n")
		expires := time.Date(2026, 11, 30, 13, 0, 0, 0, time.UTC)
		in.Credentials = &StorageCredentials{AccessKeyID: "ASIATENANTTEAMA", SecretAccessKey: "session/team-a/secret", SessionToken: "session-token-team-a",
			Expires: expires, CA: ca, ProvisionedHash: "0123456789abcdef", ProvisionedAt: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
		spec.Query = v1alpha1.QuerySpec{Enabled: true}
		spec.Auth.Tokens = []v1alpha1.TokenSpec{{Name: "claude"}, {Name: "grafana", Permissions: []v1alpha1.Permission{v1alpha1.PermissionQuery, v1alpha1.PermissionIngest}}}
		in.Tokens = authTokens(spec.Auth.Tokens)
		in.QueryCredentials = &StorageCredentials{AccessKeyID: "ASIAQUERYTEAMA", SecretAccessKey: "session/query/secret", SessionToken: "session-token-query",
			Expires: expires, CA: ca, ProvisionedHash: "fedcba9876543210", ProvisionedAt: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	default:
		panic(fmt.Sprintf("no variant %q", variant))
	}
	return in
}

// defaultedLake is a TelemetryLake as the API server returns it with only the CRD's defaults. It
// carries labels and annotations of its own that no child may copy.
func defaultedLake() *v1alpha1.TelemetryLake {
	return &v1alpha1.TelemetryLake{
		ObjectMeta: metav1.ObjectMeta{
			Name:       "team-a",
			Namespace:  "shop",
			UID:        "6f1c2b9e-0d41-4c36-9a55-6c1f3f3a2b10",
			Generation: 3,
			Labels:     map[string]string{"argocd.argoproj.io/instance": "tenants", "team": "a"},
			Annotations: map[string]string{
				"kubectl.kubernetes.io/last-applied-configuration": "{}",
				"argocd.argoproj.io/tracking-id":                   "tenants:lake.telemetrylake.io/TelemetryLake:shop/team-a",
			},
		},
		Spec: v1alpha1.TelemetryLakeSpec{
			Ingester: v1alpha1.IngesterSpec{
				Replicas: ptr.To[int32](2),
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				MaxRequestBodyBytes: ptr.To[int64](20971520),
				LogLevel:            "info",
			},
			Auth: v1alpha1.AuthSpec{RotationOverlap: &metav1.Duration{Duration: 24 * time.Hour}},
			Service: v1alpha1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP,
			},
		},
	}
}

func s3IAMClass() *v1alpha1.LakeStorageClass {
	return &v1alpha1.LakeStorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: "seaweedfs"},
		Spec: v1alpha1.LakeStorageClassSpec{
			Provisioner: v1alpha1.ProvisionerS3IAM,
			S3: &v1alpha1.S3Settings{
				Endpoint:                  "http://seaweedfs.storage.svc:8333",
				Region:                    "us-east-1",
				PathStyle:                 true,
				AdminCredentialsSecretRef: v1alpha1.SecretReference{Name: "seaweedfs-admin"},
			},
			Bucket:         v1alpha1.BucketPlacement{Mode: v1alpha1.BucketPerTenant, NameTemplate: "tl-{namespace}-{name}"},
			RetentionDays:  ptr.To[int32](30),
			DeletionPolicy: v1alpha1.DeletionRetain,
		},
	}
}

// assumeRoleClass is s3IAMClass in credentials mode AssumeRole, with a CA.
func assumeRoleClass() *v1alpha1.LakeStorageClass {
	class := s3IAMClass()
	class.Spec.S3.CASecretRef = &v1alpha1.SecretReference{Name: "seaweedfs-ca"}
	class.Spec.Credentials = &v1alpha1.CredentialSettings{Mode: v1alpha1.CredentialModeAssumeRole,
		RoleARN: "arn:aws:iam::123456789012:role/telemetrylake-tenants", SessionDuration: &metav1.Duration{Duration: time.Hour}}
	return class
}

func s3StaticClass() *v1alpha1.LakeStorageClass {
	return &v1alpha1.LakeStorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: "rgw"},
		Spec: v1alpha1.LakeStorageClassSpec{
			Provisioner: v1alpha1.ProvisionerS3Static,
			S3: &v1alpha1.S3Settings{
				Endpoint:                  "https://rgw.example.com",
				Region:                    "eu-west-1",
				PathStyle:                 true,
				AdminCredentialsSecretRef: v1alpha1.SecretReference{Name: "rgw-admin"},
				CASecretRef:               &v1alpha1.SecretReference{Name: "rgw-ca"},
			},
			Bucket:         v1alpha1.BucketPlacement{Mode: v1alpha1.SharedBucket, NameTemplate: "tl-{namespace}-{name}", SharedBucketName: "telemetry"},
			RetentionDays:  ptr.To[int32](30),
			DeletionPolicy: v1alpha1.DeletionDelete,
		},
	}
}

func filesystemClass() *v1alpha1.LakeStorageClass {
	return &v1alpha1.LakeStorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: "local"},
		Spec: v1alpha1.LakeStorageClassSpec{
			Provisioner:    v1alpha1.ProvisionerFilesystem,
			Filesystem:     &v1alpha1.FilesystemSettings{StorageClassName: "local-path", Size: "20Gi"},
			Bucket:         v1alpha1.BucketPlacement{Mode: v1alpha1.BucketPerTenant, NameTemplate: "tl-{namespace}-{name}"},
			RetentionDays:  ptr.To[int32](30),
			DeletionPolicy: v1alpha1.DeletionRetain,
		},
	}
}

// authTokens are the tokens of the auth variant as the controller holds them: "claude" in the
// overlap of a rotation, "checkout" with an expiry.
func authTokens(specs []v1alpha1.TokenSpec) []IssuedToken {
	return []IssuedToken{
		{
			Spec:             specs[0],
			Value:            "tlk_q0w9e8r7t6y5u4i3o2p1a0s9d8f7g6h5j4k3l2z1x0c",
			IssuedAt:         time.Date(2026, 10, 16, 14, 3, 27, 123456789, time.FixedZone("CEST", 2*3600)),
			RotationHandled:  "claude",
			PreviousSHA256:   "aa00bb11cc22dd33ee44ff5566778899aabbccddeeff00112233445566778899",
			PreviousNotAfter: time.Date(2026, 10, 17, 12, 3, 27, 0, time.UTC),
		},
		{
			Spec:     specs[1],
			Value:    "tlk_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5",
			IssuedAt: time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC),
		},
	}
}
