package builders

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// HorizontalPodAutoscaler scales the ingester Deployment on average CPU use (of requests) when
// spec.ingester.autoscaling is set; the Deployment then leaves its replicas to it. It is nil
// without autoscaling, and for the filesystem provisioner, which runs a single pod whatever the
// spec says. The controller deletes an existing one then.
func HorizontalPodAutoscaler(in Inputs) *autoscalingv2.HorizontalPodAutoscaler {
	a := in.autoscaling()
	if a == nil {
		return nil
	}
	lake := in.Lake
	name := NamesFor(lake).Ingester
	target := a.TargetCPUUtilizationPercentage
	if target == 0 {
		target = defaultTargetCPUPercent
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: autoscalingv2.SchemeGroupVersion.String(), Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: objectMeta(lake, name, wellknown.ComponentIngester),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{
				APIVersion: "apps/v1",
				Kind:       "Deployment",
				Name:       name,
			},
			MinReplicas: ptr.To(minReplicas(a.MinReplicas)),
			MaxReplicas: a.MaxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{
						Type:               autoscalingv2.UtilizationMetricType,
						AverageUtilization: ptr.To(target),
					},
				},
			}},
		},
	}
}
