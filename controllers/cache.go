package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// CacheOptions keep only the Secrets the operator needs in memory: its own children everywhere,
// and every Secret of its own namespace (the admin credentials and CAs). Tenants' other Secrets
// are never cached, nor watched.
func CacheOptions(operatorNamespace string) cache.Options {
	managed := labels.SelectorFromSet(labels.Set{wellknown.LabelManagedBy: wellknown.ManagedBy})
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Secret{}: {Namespaces: map[string]cache.Config{
			operatorNamespace:   {},
			cache.AllNamespaces: {LabelSelector: managed},
		}},
	}}
}
