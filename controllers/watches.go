package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// lakesOfClass maps a LakeStorageClass event to the lakes that use it, by name or as default.
func (r *TelemetryLakeReconciler) lakesOfClass() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		isDefault := obj.GetAnnotations()[wellknown.AnnotationDefaultClass] == "true"
		return r.lakesWhere(ctx, func(l *lakev1.TelemetryLake) bool {
			return l.Spec.StorageClassName == obj.GetName() || (l.Spec.StorageClassName == "" && isDefault)
		})
	})
}

// lakesOfAdminSecret maps a change to a Secret in the operator's namespace to the lakes whose
// class references it (admin credentials or CA).
func (r *TelemetryLakeReconciler) lakesOfAdminSecret() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		if obj.GetNamespace() != r.OperatorNamespace {
			return nil
		}
		var classes lakev1.LakeStorageClassList
		if err := r.Client.List(ctx, &classes); err != nil {
			return nil
		}
		using := map[string]bool{}
		var defaultUses bool
		for _, c := range classes.Items {
			if referencesSecret(&c, obj.GetName()) {
				using[c.Name] = true
				defaultUses = defaultUses || c.Annotations[wellknown.AnnotationDefaultClass] == "true"
			}
		}
		if len(using) == 0 {
			return nil
		}
		return r.lakesWhere(ctx, func(l *lakev1.TelemetryLake) bool {
			return using[l.Spec.StorageClassName] || (l.Spec.StorageClassName == "" && defaultUses)
		})
	})
}

func (r *TelemetryLakeReconciler) lakesWhere(ctx context.Context, match func(*lakev1.TelemetryLake) bool) []reconcile.Request {
	var lakes lakev1.TelemetryLakeList
	if err := r.Client.List(ctx, &lakes); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range lakes.Items {
		if match(&lakes.Items[i]) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&lakes.Items[i])})
		}
	}
	return reqs
}

// lakesOfOIDCCA maps a change to a Secret in a tenant's namespace to the lakes there whose OIDC
// issuers name it as their CA: a new CA must roll the ingester pods.
func (r *TelemetryLakeReconciler) lakesOfOIDCCA() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		var lakes lakev1.TelemetryLakeList
		if err := r.Client.List(ctx, &lakes, client.InNamespace(obj.GetNamespace())); err != nil {
			return nil
		}
		var reqs []reconcile.Request
		for i := range lakes.Items {
			for _, issuer := range lakes.Items[i].Spec.Auth.OIDC {
				if issuer.CASecretRef != nil && issuer.CASecretRef.Name == obj.GetName() {
					reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&lakes.Items[i])})
					break
				}
			}
		}
		return reqs
	})
}
