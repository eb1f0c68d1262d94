package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers/builders"
	"github.com/telemetrylake/telemetrylake/controllers/provision"
)

// finalize revokes a deleted lake's credentials and, under the Delete policy, removes its data,
// before letting the object go. Children go with it through their owner references. A failure
// is retried with backoff, said in an event and reported as Ready=False, Deleting (through
// computeStatus, like every status); the finalizer stays until cleanup succeeds.
func (r *TelemetryLakeReconciler) finalize(ctx context.Context, lake *lakev1.TelemetryLake) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(lake, wellknown.Finalizer) {
		return ctrl.Result{}, nil
	}
	err := r.cleanUp(ctx, lake)
	if errors.Is(err, errStoreBusy) {
		// Not a failure: the class's store slots are taken by other lakes' calls, and the lake
		// is woken when one frees (storeGates).
		return ctrl.Result{RequeueAfter: jitter(slotFallback)}, nil
	}
	if err != nil {
		r.Events.Eventf(lake, nil, corev1.EventTypeWarning, "CleanupFailed", "Delete", "%v (retrying)", err)
		cleanup := stepFailed(lakev1.ReasonDeleting, "cleanup failed, retrying: %v", err)
		return ctrl.Result{}, errors.Join(err, r.writeStatus(ctx, lake, observedDeletion(lake, cleanup)))
	}
	patch := client.MergeFrom(lake.DeepCopy())
	controllerutil.RemoveFinalizer(lake, wellknown.Finalizer)
	if err := r.Client.Patch(ctx, lake, patch); err != nil {
		return ctrl.Result{}, err
	}
	// The lake and its children are going: nothing of theirs is written again.
	r.writes.forgetNamespace(lake.Namespace)
	return ctrl.Result{}, nil
}

func (r *TelemetryLakeReconciler) cleanUp(ctx context.Context, lake *lakev1.TelemetryLake) error {
	class, st := r.resolveStorageClass(ctx, lake)
	if !st.done() {
		// With no class there is nothing the operator made outside the cluster that it can reach.
		r.Events.Eventf(lake, nil, corev1.EventTypeWarning, "CleanupSkipped", "Delete", "%s: no external storage to clean up", st.message)
		return nil
	}
	if class.Spec.Provisioner == lakev1.ProvisionerFilesystem {
		return nil // the PVC is owned by the lake and goes with it
	}
	ep, _, st := r.adminEndpoint(ctx, class)
	if !st.done() {
		return fmt.Errorf("%s", st.message)
	}
	// Deletions take the class's store slots like provisioning does: a store that hangs must not
	// hold more workers through its lakes' deletions either.
	release, _, err := r.gates.enter(class.Name, client.ObjectKeyFromObject(lake))
	if err != nil {
		return fmt.Errorf("LakeStorageClass %s: %w", class.Name, err)
	}
	var result error
	defer func() { release(result) }()
	result = r.cleanUpStore(ctx, lake, class, ep)
	return result
}

// cleanUpStore revokes the lake's credentials and, under the Delete policy, deletes its data.
func (r *TelemetryLakeReconciler) cleanUpStore(ctx context.Context, lake *lakev1.TelemetryLake, class *lakev1.LakeStorageClass, ep provision.Endpoint) error {
	prov, err := r.provisioner(ctx, ep)
	if err != nil {
		return err
	}
	tenant := provision.Tenant{Namespace: lake.Namespace, Name: lake.Name}
	switch {
	case class.Spec.AssumesRole():
		// No IAM user to delete, and STS cannot revoke a session: dropping the storage Secrets
		// (they go with the lake) is all there is, and the last session stays valid until it expires.
		r.Events.Eventf(lake, nil, corev1.EventTypeNormal, "CredentialsDropped", "Delete", "the tenant's STS sessions go with its storage Secrets; the last stays valid until it expires (at most spec.credentials.sessionDuration of LakeStorageClass %s)", class.Name)
	case class.Spec.Provisioner == lakev1.ProvisionerS3IAM:
		if err := prov.RevokeCredentials(ctx, tenant); err != nil {
			return fmt.Errorf("revoking the IAM user of %s/%s: %w", lake.Namespace, lake.Name, err)
		}
		r.Events.Eventf(lake, nil, corev1.EventTypeNormal, "CredentialsRevoked", "Delete", "revoked the tenant's IAM user and keys")
	}
	placement, err := provision.PlacementFor(string(class.Spec.Bucket.Mode), class.Spec.Bucket.NameTemplate, class.Spec.Bucket.SharedBucketName, tenant)
	if err != nil {
		return err
	}
	if builders.DeletionPolicy(lake, class) != lakev1.DeletionDelete {
		r.Events.Eventf(lake, nil, corev1.EventTypeNormal, "DataRetained", "Delete", "deletionPolicy Retain: the data stays in s3://%s/%s", placement.Bucket, placement.Prefix)
		return nil
	}
	deleteBucket := class.Spec.Bucket.Mode != lakev1.SharedBucket
	if err := prov.DeleteData(ctx, placement, deleteBucket); err != nil {
		return fmt.Errorf("deleting s3://%s/%s: %w", placement.Bucket, placement.Prefix, err)
	}
	r.Events.Eventf(lake, nil, corev1.EventTypeNormal, "DataDeleted", "Delete", "deletionPolicy Delete: removed s3://%s/%s", placement.Bucket, placement.Prefix)
	return nil
}
