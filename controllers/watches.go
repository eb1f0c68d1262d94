package controllers

import (
	"context"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

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

// lakeChanged lets through a lake's updates but those of its status alone, which only this
// operator writes: each status write brought the lake back for a reconcile that had nothing to do,
// 4 a lake while onboarding, each of them reading the Deployment past the cache then (make
// bench-operator, 300 lakes). Its spec (generation), labels, annotations (a token rotation) and
// deletion pass. A finalizer that someone else removes is put back on the next reconcile.
var lakeChanged = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	return metadataChanged(e.ObjectOld, e.ObjectNew)
}}

// childChanged lets through the events of a child that can change what a reconcile does or
// reports: creation, deletion, and an update of its spec (generation) or of the metadata the
// operator sets. Status churn is dropped: every 15 minutes each lake's CronJob reports its run
// twice (active, then lastSuccessfulTime), and before this filter each report reconciled the
// lake, 2 reconciles and 16 store calls per lake per tick (issue 13); an HPA rewrites its current
// metrics every sync. Neither is in the lake's status.
var childChanged = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	return metadataChanged(e.ObjectOld, e.ObjectNew)
}}

// deploymentChanged is childChanged, and also lets through the status fields that Ready and the
// replica counts are computed from (ingesterStep); the Deployment controller's other writes
// (condition timestamps, unavailableReplicas) are dropped.
var deploymentChanged = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	if metadataChanged(e.ObjectOld, e.ObjectNew) {
		return true
	}
	old, okOld := e.ObjectOld.(*appsv1.Deployment)
	cur, okNew := e.ObjectNew.(*appsv1.Deployment)
	if !okOld || !okNew {
		return true
	}
	o, n := old.Status, cur.Status
	return o.ObservedGeneration != n.ObservedGeneration || o.Replicas != n.Replicas || o.UpdatedReplicas != n.UpdatedReplicas ||
		o.ReadyReplicas != n.ReadyReplicas || o.AvailableReplicas != n.AvailableReplicas
}}

func metadataChanged(old, cur client.Object) bool {
	return old.GetGeneration() != cur.GetGeneration() ||
		!maps.Equal(old.GetLabels(), cur.GetLabels()) ||
		!maps.Equal(old.GetAnnotations(), cur.GetAnnotations()) ||
		!equality.Semantic.DeepEqual(old.GetOwnerReferences(), cur.GetOwnerReferences()) ||
		!old.GetDeletionTimestamp().Equal(cur.GetDeletionTimestamp())
}

// rolloutPriority puts the reconcile that a Deployment's progress asks for ahead of the others in
// the controller's priority queue. That reconcile is cheap (every store call and child is already
// done; it reads the cache and writes the status), and it is the one a tenant waits on for Ready:
// at 100 lakes, every Deployment was available within 1 s of its creation, yet Ready came a median
// 69 s later, behind the first reconciles of every other lake in one FIFO queue (issue 13).
const rolloutPriority = 10

// rolloutProgress enqueues the lake that controls a Deployment, at rolloutPriority.
func rolloutProgress() handler.EventHandler {
	enqueue := func(obj client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		ref := metav1.GetControllerOf(obj)
		if ref == nil || ref.Kind != "TelemetryLake" || ref.APIVersion != lakev1.GroupVersion.String() {
			return
		}
		req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: ref.Name}}
		if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok {
			pq.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(rolloutPriority)}, req)
			return
		}
		q.Add(req)
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(e.Object, q)
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(e.ObjectNew, q)
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(e.Object, q)
		},
	}
}
