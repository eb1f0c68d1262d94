package builders

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ChildKinds returns an empty object of every kind Build makes or removes. The operator's cache
// keeps only the managed-by-labelled objects of these kinds (controllers.CacheOptions), so a kind
// missing here would put every object of it in the cluster into the operator's memory:
// TestChildKindsCoverBuild fails when a builder makes one.
func ChildKinds() []client.Object {
	return []client.Object{
		&corev1.Secret{}, &corev1.ServiceAccount{}, &corev1.PersistentVolumeClaim{}, &appsv1.Deployment{},
		&corev1.Service{}, &policyv1.PodDisruptionBudget{}, &autoscalingv2.HorizontalPodAutoscaler{},
		&networkingv1.Ingress{}, &batchv1.CronJob{},
	}
}
