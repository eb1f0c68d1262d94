package builders

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// Service is <name>-ingester, in front of the ingester pods: OTLP/HTTP on otlp-http (4318) and
// /metrics on metrics (9090). Its targetPorts are the container's port names, so the two cannot
// drift apart. Type and annotations come from spec.service; the annotations are the spec's, for
// cloud load balancers, never the TelemetryLake's own.
func Service(lake *v1alpha1.TelemetryLake) *corev1.Service {
	meta := objectMeta(lake, NamesFor(lake).Ingester, wellknown.ComponentIngester)
	meta.Annotations = maps.Clone(lake.Spec.Service.Annotations)
	svcType := lake.Spec.Service.Type
	if svcType == "" {
		svcType = defaultServiceType
	}
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: corev1.SchemeGroupVersion.String(), Kind: "Service"},
		ObjectMeta: meta,
		Spec: corev1.ServiceSpec{
			Type:     svcType,
			Selector: selectorLabels(lake),
			Ports: []corev1.ServicePort{
				servicePort(wellknown.OTLPHTTPPortName, wellknown.OTLPHTTPPort),
				servicePort(wellknown.MetricsPortName, wellknown.MetricsPort),
			},
		},
	}
}

func servicePort(name string, port int32) corev1.ServicePort {
	return corev1.ServicePort{
		Name:        name,
		Protocol:    corev1.ProtocolTCP,
		AppProtocol: ptr.To("http"),
		Port:        port,
		TargetPort:  intstr.FromString(name),
	}
}
