package builders

import (
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// PodDisruptionBudget lets voluntary disruptions (node drains) take one ingester pod at a time.
// It is nil when the ingester may run a single pod (replicas or autoscaling.minReplicas of 1 or
// less, or the filesystem provisioner): a budget there would block every drain. The controller
// deletes an existing one then.
//
// Pods that are not ready may always be evicted, so a crash-looping ingester never blocks a drain.
func PodDisruptionBudget(in Inputs) *policyv1.PodDisruptionBudget {
	if minPods(in) <= 1 {
		return nil
	}
	lake := in.Lake
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: policyv1.SchemeGroupVersion.String(), Kind: "PodDisruptionBudget"},
		ObjectMeta: objectMeta(lake, NamesFor(lake).Ingester, wellknown.ComponentIngester),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable:             ptr.To(intstr.FromInt32(1)),
			Selector:                   &metav1.LabelSelector{MatchLabels: selectorLabels(lake)},
			UnhealthyPodEvictionPolicy: ptr.To(policyv1.AlwaysAllow),
		},
	}
}

// minPods is the fewest ingester pods the spec asks for.
func minPods(in Inputs) int32 {
	if a := in.autoscaling(); a != nil {
		return minReplicas(a.MinReplicas)
	}
	return in.replicas()
}

func minReplicas(n int32) int32 {
	if n == 0 {
		return defaultMinReplicas
	}
	return n
}
