package builders

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"maps"

	"github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// Ingress exposes the ingester's OTLP port (never its metrics) at spec.ingress.host, with TLS
// from spec.ingress.tlsSecretName when set. Every path goes to the ingester, which answers 404
// itself for what it does not serve. It is nil without spec.ingress; the controller deletes an
// existing one then.
func Ingress(lake *v1alpha1.TelemetryLake) *networkingv1.Ingress {
	spec := lake.Spec.Ingress
	if spec == nil {
		return nil
	}
	name := NamesFor(lake).Ingester
	meta := objectMeta(lake, name, wellknown.ComponentIngester)
	meta.Annotations = maps.Clone(spec.Annotations)
	ing := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: networkingv1.SchemeGroupVersion.String(), Kind: "Ingress"},
		ObjectMeta: meta,
		Spec: networkingv1.IngressSpec{
			Rules: []networkingv1.IngressRule{{
				Host: spec.Host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     "/",
						PathType: ptr.To(networkingv1.PathTypePrefix),
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: name,
							Port: networkingv1.ServiceBackendPort{Name: wellknown.OTLPHTTPPortName},
						}},
					}},
				}},
			}},
		},
	}
	if spec.ClassName != "" {
		ing.Spec.IngressClassName = ptr.To(spec.ClassName)
	}
	if spec.TLSSecretName != "" {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{spec.Host}, SecretName: spec.TLSSecretName}}
	}
	return ing
}
