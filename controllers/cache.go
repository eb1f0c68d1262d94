package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers/builders"
)

// CacheOptions keep in memory only what the operator reads, and as little of it as will do:
//   - of the kinds it creates (builders.ChildKinds), only its own children (every builder
//     labels them managed-by), so a cluster's other Deployments, Services or Secrets never sit
//     in the operator's memory; a child whose label someone removes leaves the cache, and the
//     next reconcile puts it back;
//   - every Secret of its own namespace (the admin credentials and CAs);
//   - no object's managedFields: the operator compares fields, never their owners, and at a
//     thousand tenants the server-side-apply bookkeeping was the largest part of each cached
//     child.
func CacheOptions(operatorNamespace string) cache.Options {
	managed := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{wellknown.LabelManagedBy: wellknown.ManagedBy})}
	byObject := map[client.Object]cache.ByObject{}
	for _, child := range builders.ChildKinds() {
		if _, secret := child.(*corev1.Secret); secret {
			// The map's keys are objects, not kinds: a second Secret entry would be a second,
			// conflicting key, so Secrets get their one entry here.
			byObject[child] = cache.ByObject{Namespaces: map[string]cache.Config{
				operatorNamespace:   {},
				cache.AllNamespaces: {LabelSelector: managed.Label},
			}}
			continue
		}
		byObject[child] = managed
	}
	return cache.Options{ByObject: byObject, DefaultTransform: cache.TransformStripManagedFields()}
}
