package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// CacheOptions keep in memory only what the operator reads, and as little of it as will do:
//   - of the kinds it creates, only its own children (every builder labels them managed-by), so
//     a cluster's other Deployments, Services or Secrets never sit in the operator's memory; a
//     child whose label someone removes leaves the cache, and the next reconcile puts it back;
//   - every Secret of its own namespace (the admin credentials and CAs);
//   - no object's managedFields: the operator compares fields, never their owners, and at a
//     thousand tenants the server-side-apply bookkeeping was the largest part of each cached
//     child.
func CacheOptions(operatorNamespace string) cache.Options {
	managed := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{wellknown.LabelManagedBy: wellknown.ManagedBy})}
	byObject := map[client.Object]cache.ByObject{
		&corev1.Secret{}: {Namespaces: map[string]cache.Config{
			operatorNamespace:   {},
			cache.AllNamespaces: {LabelSelector: managed.Label},
		}},
	}
	for _, child := range []client.Object{
		&appsv1.Deployment{}, &corev1.Service{}, &corev1.ServiceAccount{}, &corev1.PersistentVolumeClaim{},
		&policyv1.PodDisruptionBudget{}, &autoscalingv2.HorizontalPodAutoscaler{}, &networkingv1.Ingress{},
		&batchv1.CronJob{},
	} {
		byObject[child] = managed
	}
	return cache.Options{ByObject: byObject, DefaultTransform: cache.TransformStripManagedFields()}
}
