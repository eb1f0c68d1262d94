package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
)

// LakeStorageClassReconciler reports whether a class can be provisioned from: Ready says its admin
// credentials (and CA) are in place in the operator's namespace. It does not call the object
// store: a store that is down shows on the lakes that need it, with a retry.
type LakeStorageClassReconciler struct {
	Client            client.Client
	OperatorNamespace string
}

// +kubebuilder:rbac:groups=lake.telemetrylake.io,resources=lakestorageclasses/status,verbs=get;patch

func (r *LakeStorageClassReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	class := &lakev1.LakeStorageClass{}
	if err := r.Client.Get(ctx, req.NamespacedName, class); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ready := stepDone()
	message := "no credentials are needed"
	if class.Spec.S3 != nil {
		_, _, ready = readAdminEndpoint(ctx, r.Client, r.OperatorNamespace, class)
		message = "the admin credentials are in place in namespace " + r.OperatorNamespace
	}
	status := lakev1.LakeStorageClassStatus{
		ObservedGeneration: class.Generation,
		Conditions:         append([]metav1.Condition(nil), class.Status.Conditions...),
	}
	cond := metav1.Condition{Type: lakev1.ConditionReady, Status: metav1.ConditionTrue, Reason: lakev1.ReasonReady, Message: message, ObservedGeneration: class.Generation}
	if !ready.done() {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ready.reason, ready.message
	}
	meta.SetStatusCondition(&status.Conditions, cond)
	if equality.Semantic.DeepEqual(status, class.Status) {
		return ctrl.Result{}, nil
	}
	patch := client.MergeFrom(class.DeepCopy())
	class.Status = status
	return ctrl.Result{}, r.Client.Status().Patch(ctx, class, patch)
}

// SetupWithManager watches the classes and the Secrets of the operator's namespace they name.
func (r *LakeStorageClassReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&lakev1.LakeStorageClass{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
			if obj.GetNamespace() != r.OperatorNamespace {
				return nil
			}
			var classes lakev1.LakeStorageClassList
			if err := r.Client.List(ctx, &classes); err != nil {
				return nil
			}
			var reqs []reconcile.Request
			for _, c := range classes.Items {
				if referencesSecret(&c, obj.GetName()) {
					reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&c)})
				}
			}
			return reqs
		})).
		Complete(r)
}

// referencesSecret says whether a class names the Secret, as admin credentials or CA.
func referencesSecret(c *lakev1.LakeStorageClass, name string) bool {
	s3 := c.Spec.S3
	return s3 != nil && (s3.AdminCredentialsSecretRef.Name == name || (s3.CASecretRef != nil && s3.CASecretRef.Name == name))
}
