package builders

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// ServiceAccount is the ingester's identity, <name>-ingester. It has no RBAC: the ingester calls
// no Kubernetes API.
//
// It does not automount a token. The one use the ingester has for one is reading the apiserver's
// OIDC discovery document and key set when spec.auth.serviceAccounts is set (the apiserver serves
// them only to authenticated callers, which the default system:service-account-issuer-discovery
// binding grants to every service account); the Deployment then mounts a projected token
// explicitly. Every other ingester runs without a credential to the cluster.
func ServiceAccount(lake *v1alpha1.TelemetryLake) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:                     metav1.TypeMeta{APIVersion: corev1.SchemeGroupVersion.String(), Kind: "ServiceAccount"},
		ObjectMeta:                   objectMeta(lake, NamesFor(lake).Ingester, wellknown.ComponentIngester),
		AutomountServiceAccountToken: ptr.To(false),
	}
}
