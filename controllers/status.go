package controllers

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/controllers/builders"
)

// stepState is where one step of a reconcile stands. It has no meaningful zero value: a step
// starts waiting (newObserved) and becomes done or failed once the reconcile reaches it.
type stepState int

const (
	// stateWaiting: the step has not run, because an earlier one is not done. computeStatus says
	// which one.
	stateWaiting stepState = iota + 1
	// stateDone: the step succeeded.
	stateDone
	// stateFailed: the step ran and is not done; reason and message say why. For most steps that
	// is a failure; for the ingester's roll-out it may just be progress (RollingOut).
	stateFailed
)

// step is the outcome of one step of a reconcile.
type step struct {
	state   stepState
	reason  string // a reason of api/v1alpha1/conditions.go: when failed, or when computeStatus says what a waiting step waits for
	message string
}

func stepDone() step    { return step{state: stateDone} }
func stepWaiting() step { return step{state: stateWaiting} }

func stepFailed(reason, format string, args ...any) step {
	return step{state: stateFailed, reason: reason, message: fmt.Sprintf(format, args...)}
}

func (s step) done() bool   { return s.state == stateDone }
func (s step) failed() bool { return s.state == stateFailed }

// observed is everything a reconcile learned that the status reports. computeStatus turns it into
// the status, and writeStatus is the one place that patches it.
type observed struct {
	generation int64
	// storage, credentials and config are the reconcile's steps in order: the bucket (or volume),
	// the scoped storage credentials and tokens, and the ingester's configuration (the OIDC CA
	// bundles it names, and every child built from the spec).
	storage     step
	credentials step
	config      step
	// deployment is the ingester Deployment as it stands after this reconcile's apply; nil when
	// an earlier step stopped the reconcile before it.
	deployment *appsv1.Deployment
	// query says whether spec.query is enabled; queryDeployment is its Deployment as it stands
	// after this reconcile's apply, nil before it.
	query           bool
	queryDeployment *appsv1.Deployment
	queryEndpoint   string
	endpoint        string
	tokens          []lakev1.TokenStatus
	placement       *lakev1.StorageStatus
	selector        string
	// retryAfter, when a step failed on a closed store gate, is when the gate opens again.
	retryAfter time.Duration
	// deletion is the finalizer's cleanup, once the lake is being deleted; nil until then.
	deletion *step
}

// newObserved is what a reconcile of lake knows before it has done anything: every step waits.
func newObserved(lake *lakev1.TelemetryLake) observed {
	return observed{
		generation:    lake.Generation,
		endpoint:      builders.Endpoint(lake),
		query:         lake.Spec.Query.Enabled,
		queryEndpoint: builders.QueryHost(lake),
		storage:       stepWaiting(),
		credentials:   stepWaiting(),
		config:        stepWaiting(),
	}
}

// observedDeletion is what the finalizer knows: how its cleanup went. The rest is not looked at
// during deletion.
func observedDeletion(lake *lakev1.TelemetryLake, cleanup step) observed {
	return observed{generation: lake.Generation, deletion: &cleanup}
}

// computeStatus derives the whole status from what was observed. Conditions keep their
// lastTransitionTime while their status does not change (meta.SetStatusCondition); one whose
// status changes has now as its lastTransitionTime.
func computeStatus(prev lakev1.TelemetryLakeStatus, o observed, now time.Time) lakev1.TelemetryLakeStatus {
	if o.deletion != nil {
		return deletingStatus(prev, o, now)
	}
	st := lakev1.TelemetryLakeStatus{
		ObservedGeneration: o.generation,
		Conditions:         append([]metav1.Condition(nil), prev.Conditions...),
		Endpoint:           o.endpoint,
		Tokens:             o.tokens,
		Storage:            o.placement,
		Selector:           o.selector,
	}
	if o.deployment != nil {
		st.Replicas = o.deployment.Status.Replicas
		st.ReadyReplicas = o.deployment.Status.ReadyReplicas
	}
	// A reconcile always reports on storage; should it not, StorageReady still gets a reason.
	storage := waitingOn(o.storage, lakev1.ReasonWaitingForStorage, "storage has not been provisioned yet")
	credentials := waitingOn(o.credentials, lakev1.ReasonWaitingForStorage, "waiting for storage: "+storage.message)
	ingester := ingesterCondition(o)
	setCondition(&st.Conditions, now, o.generation, lakev1.ConditionStorageReady, storage, "storage is provisioned")
	setCondition(&st.Conditions, now, o.generation, lakev1.ConditionCredentialsReady, credentials, "storage credentials and token Secrets are in place")
	setCondition(&st.Conditions, now, o.generation, lakev1.ConditionIngesterAvailable, ingester, "the ingester pods of this generation are available")
	ready, readyMessage := []step{storage, credentials, ingester}, "the ingester pods of this generation are available at "+o.endpoint
	if o.query {
		st.QueryEndpoint = o.queryEndpoint
		query := queryCondition(o)
		setCondition(&st.Conditions, now, o.generation, lakev1.ConditionQueryAvailable, query, "the query server's pods of this generation are available at "+o.queryEndpoint)
		ready, readyMessage = append(ready, query), readyMessage+", and the query server's at "+o.queryEndpoint
	} else {
		meta.RemoveStatusCondition(&st.Conditions, lakev1.ConditionQueryAvailable)
	}
	setCondition(&st.Conditions, now, o.generation, lakev1.ConditionReady, firstNotDone(ready...), readyMessage)
	return st
}

// deletingStatus keeps what the status said before and reports only the cleanup, on Ready: during
// deletion nothing else is observed again, so observedGeneration and the other conditions still
// describe the last generation that was reconciled.
func deletingStatus(prev lakev1.TelemetryLakeStatus, o observed, now time.Time) lakev1.TelemetryLakeStatus {
	st := *prev.DeepCopy()
	setCondition(&st.Conditions, now, o.generation, lakev1.ConditionReady, *o.deletion, "cleanup is done")
	return st
}

// ingesterCondition is IngesterAvailable: the configuration's failure when the children could not
// be built, else whether the Deployment has rolled out.
func ingesterCondition(o observed) step {
	if o.config.failed() {
		return o.config
	}
	return waitingOn(ingesterStep(o.deployment), lakev1.ReasonWaitingForCredentials, "the ingester is not deployed until storage and credentials are ready")
}

// queryCondition is QueryAvailable: the configuration's failure when the children could not be
// built, else whether the query Deployment has rolled out.
func queryCondition(o observed) step {
	if o.config.failed() {
		return o.config
	}
	return waitingOn(deploymentStep(o.queryDeployment, "query server"), lakev1.ReasonWaitingForCredentials, "the query server is not deployed until storage and credentials are ready")
}

// waitingOn gives a waiting step the reason and message of what it waits for.
func waitingOn(s step, reason, message string) step {
	if s.state != stateWaiting {
		return s
	}
	return step{state: stateWaiting, reason: reason, message: message}
}

// firstNotDone is the first of the steps that is not done, or done when all are: Ready's reason.
func firstNotDone(steps ...step) step {
	for _, s := range steps {
		if !s.done() {
			return s
		}
	}
	return stepDone()
}

// setCondition records one condition: True with ReasonReady when the step is done, else False
// with the step's reason.
func setCondition(conds *[]metav1.Condition, now time.Time, generation int64, typ string, s step, readyMessage string) {
	c := metav1.Condition{Type: typ, ObservedGeneration: generation, Status: metav1.ConditionTrue, Reason: lakev1.ReasonReady, Message: readyMessage,
		LastTransitionTime: metav1.NewTime(now)}
	if !s.done() {
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, s.reason, s.message
	}
	meta.SetStatusCondition(conds, c)
}

// ingesterStep says whether the Deployment has rolled out its current template: the Deployment
// controller has seen it, every pod runs it, and enough of them are available. With no
// Deployment (nil) it waits.
func ingesterStep(d *appsv1.Deployment) step { return deploymentStep(d, "ingester") }

// deploymentStep is ingesterStep for the Deployment of what (the ingester, the query server).
func deploymentStep(d *appsv1.Deployment, what string) step {
	if d == nil {
		return stepWaiting()
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
		return stepFailed(lakev1.ReasonUnavailable, "%d of %d %s pods are available", s.AvailableReplicas, want, what)
	}
	return stepDone()
}
