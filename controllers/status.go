package controllers

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
)

// step is the outcome of one provisioning step of a reconcile.
type step struct {
	done    bool
	reason  string // when not done
	message string
}

func stepDone() step { return step{done: true} }

func stepFailed(reason, format string, args ...any) step {
	return step{reason: reason, message: fmt.Sprintf(format, args...)}
}

// observed is everything a reconcile learned that the status reports. computeStatus turns it into
// the status; nothing else writes status.
type observed struct {
	generation  int64
	storage     step
	credentials step
	// deployment is the ingester Deployment as it stands after this reconcile's apply; nil when
	// an earlier step stopped the reconcile before it.
	deployment *appsv1.Deployment
	endpoint   string
	tokens     []lakev1.TokenStatus
	placement  *lakev1.StorageStatus
	selector   string
}

// computeStatus derives the whole status from what was observed. Conditions keep their
// lastTransitionTime while their status does not change.
func computeStatus(prev lakev1.TelemetryLakeStatus, o observed) lakev1.TelemetryLakeStatus {
	st := lakev1.TelemetryLakeStatus{
		ObservedGeneration: o.generation,
		Conditions:         append([]metav1.Condition(nil), prev.Conditions...),
		Endpoint:           o.endpoint,
		Tokens:             o.tokens,
		Storage:            o.placement,
		Selector:           o.selector,
	}
	set := func(typ string, s step, readyMessage string) {
		c := metav1.Condition{Type: typ, ObservedGeneration: o.generation, Status: metav1.ConditionTrue, Reason: lakev1.ReasonReady, Message: readyMessage}
		if !s.done {
			c.Status, c.Reason, c.Message = metav1.ConditionFalse, s.reason, s.message
		}
		meta.SetStatusCondition(&st.Conditions, c)
	}

	storage := o.storage
	credentials := o.credentials
	if !storage.done && credentials.reason == "" {
		credentials = stepFailed(lakev1.ReasonWaitingForStorage, "waiting for storage: %s", storage.message)
	}
	ingester := ingesterStep(o.deployment)
	if o.deployment == nil {
		ingester = stepFailed(lakev1.ReasonWaitingForCredentials, "the ingester is not deployed until storage and credentials are ready")
	} else {
		st.Replicas = o.deployment.Status.Replicas
		st.ReadyReplicas = o.deployment.Status.ReadyReplicas
	}
	set(lakev1.ConditionStorageReady, storage, "storage is provisioned")
	set(lakev1.ConditionCredentialsReady, credentials, "storage credentials and token Secrets are in place")
	set(lakev1.ConditionIngesterAvailable, ingester, "the ingester pods of this generation are available")

	ready := stepDone()
	for _, s := range []step{storage, credentials, ingester} {
		if !s.done {
			ready = s
			break
		}
	}
	set(lakev1.ConditionReady, ready, "the ingester pods of this generation are available at "+o.endpoint)
	return st
}

// ingesterStep says whether the Deployment has rolled out its current template: the Deployment
// controller has seen it, every pod runs it, and enough of them are available.
func ingesterStep(d *appsv1.Deployment) step {
	if d == nil {
		return step{}
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	switch {
	case s.ObservedGeneration < d.Generation:
		return stepFailed(lakev1.ReasonRollingOut, "the Deployment controller has not yet seen template generation %d", d.Generation)
	case s.UpdatedReplicas < want || s.Replicas > s.UpdatedReplicas:
		return stepFailed(lakev1.ReasonRollingOut, "rolling out: %d of %d pods run the current template (%d pods in all)", s.UpdatedReplicas, want, s.Replicas)
	case s.AvailableReplicas < want:
		return stepFailed(lakev1.ReasonUnavailable, "%d of %d ingester pods are available", s.AvailableReplicas, want)
	}
	return stepDone()
}
