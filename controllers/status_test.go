package controllers

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
)

const statusGeneration = 3

// statusNow is the clock of the status computed in these tests.
var statusNow = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// statusLake is the lake whose status these tests compute.
func statusLake() *lakev1.TelemetryLake {
	return &lakev1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Namespace: "team-a", Generation: statusGeneration}}
}

// rolledOut is an ingester Deployment whose current template runs on every wanted pod.
func rolledOut(replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Generation: 7},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(replicas)},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 7, Replicas: replicas, UpdatedReplicas: replicas,
			ReadyReplicas: replicas, AvailableReplicas: replicas},
	}
}

// provisioned is what a reconcile observes when storage, credentials and the configuration are
// done and the ingester Deployment is d.
func provisioned(d *appsv1.Deployment) observed {
	o := newObserved(statusLake())
	o.storage, o.credentials, o.config, o.deployment = stepDone(), stepDone(), stepDone(), d
	return o
}

// conditionsSaid is a status's conditions as "Type=Status/Reason", for comparing in one line.
type conditionsSaid map[string]string

func said(st lakev1.TelemetryLakeStatus) conditionsSaid {
	out := conditionsSaid{}
	for _, c := range st.Conditions {
		out[c.Type] = string(c.Status) + "/" + c.Reason
	}
	return out
}

func TestComputeStatus(t *testing.T) {
	const (
		ready     = lakev1.ConditionReady
		storage   = lakev1.ConditionStorageReady
		creds     = lakev1.ConditionCredentialsReady
		available = lakev1.ConditionIngesterAvailable
	)
	cases := []struct {
		name     string
		observed func() observed
		want     conditionsSaid
		// readyMessage is a part of Ready's message that must be there.
		readyMessage string
	}{
		{
			name: "a missing storage class fails StorageReady, and everything after it waits",
			observed: func() observed {
				o := newObserved(statusLake())
				o.storage = stepFailed(lakev1.ReasonStorageClassNotFound, "LakeStorageClass gold not found")
				return o
			},
			want: conditionsSaid{
				storage: "False/StorageClassNotFound", creds: "False/WaitingForStorage",
				available: "False/WaitingForCredentials", ready: "False/StorageClassNotFound",
			},
			readyMessage: "gold not found",
		},
		{
			name: "credentials refused by the store fail CredentialsReady after storage is ready",
			observed: func() observed {
				o := newObserved(statusLake())
				o.storage, o.credentials = stepDone(), stepFailed(lakev1.ReasonStoreDenied, "AccessDenied")
				return o
			},
			want: conditionsSaid{
				storage: "True/Ready", creds: "False/StoreDenied",
				available: "False/WaitingForCredentials", ready: "False/StoreDenied",
			},
		},
		{
			name: "a spec the builders refuse fails IngesterAvailable with InvalidSpec, not CredentialsReady",
			observed: func() observed {
				o := newObserved(statusLake())
				o.storage, o.credentials = stepDone(), stepDone()
				o.config = stepFailed(lakev1.ReasonInvalidSpec, "spec.auth.tokens names \"claude\" twice")
				return o
			},
			want: conditionsSaid{
				storage: "True/Ready", creds: "True/Ready",
				available: "False/InvalidSpec", ready: "False/InvalidSpec",
			},
			readyMessage: "twice",
		},
		{
			name: "a missing OIDC CA Secret fails IngesterAvailable with a reason of its own",
			observed: func() observed {
				o := newObserved(statusLake())
				o.storage, o.credentials = stepDone(), stepDone()
				o.config = stepFailed(lakev1.ReasonOIDCCASecretNotFound, "Secret idp-ca not found")
				return o
			},
			want: conditionsSaid{
				storage: "True/Ready", creds: "True/Ready",
				available: "False/OIDCCASecretNotFound", ready: "False/OIDCCASecretNotFound",
			},
		},
		{
			name: "a Deployment rolling out keeps Ready False with RollingOut",
			observed: func() observed {
				d := rolledOut(2)
				d.Status.UpdatedReplicas = 1
				return provisioned(d)
			},
			want: conditionsSaid{
				storage: "True/Ready", creds: "True/Ready",
				available: "False/RollingOut", ready: "False/RollingOut",
			},
		},
		{
			name:     "a rolled-out Deployment makes every condition True, and Ready names the endpoint",
			observed: func() observed { return provisioned(rolledOut(2)) },
			want: conditionsSaid{
				storage: "True/Ready", creds: "True/Ready",
				available: "True/Ready", ready: "True/Ready",
			},
			readyMessage: "http://team-a-ingester.team-a.svc:4318/ingestion/otlp",
		},
		{
			name: "a reconcile that reports before any step still gives every condition a reason",
			observed: func() observed {
				return newObserved(statusLake())
			},
			want: conditionsSaid{
				storage: "False/WaitingForStorage", creds: "False/WaitingForStorage",
				available: "False/WaitingForCredentials", ready: "False/WaitingForStorage",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := computeStatus(lakev1.TelemetryLakeStatus{}, c.observed(), statusNow)
			got := said(st)
			for typ, want := range c.want {
				if got[typ] != want {
					t.Errorf("%s is %s, want %s", typ, got[typ], want)
				}
			}
			if len(got) != len(c.want) {
				t.Errorf("conditions %v, want exactly %v", got, c.want)
			}
			for _, cond := range st.Conditions {
				if cond.Reason == "" || cond.Message == "" {
					t.Errorf("%s has reason %q and message %q; the API server requires a reason, and a person needs the message", cond.Type, cond.Reason, cond.Message)
				}
				if cond.ObservedGeneration != statusGeneration {
					t.Errorf("%s describes generation %d, want %d", cond.Type, cond.ObservedGeneration, statusGeneration)
				}
			}
			if st.ObservedGeneration != statusGeneration {
				t.Errorf("observedGeneration %d, want %d", st.ObservedGeneration, statusGeneration)
			}
			if msg := findCondition(st.Conditions, ready).Message; !strings.Contains(msg, c.readyMessage) {
				t.Errorf("Ready says %q, want it to contain %q", msg, c.readyMessage)
			}
		})
	}
}

func TestComputeStatusKeepsLastTransitionTimeWhileTheStatusHolds(t *testing.T) {
	before := metav1.NewTime(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	rollingOut := rolledOut(2)
	rollingOut.Status.UpdatedReplicas = 1
	prev := computeStatus(lakev1.TelemetryLakeStatus{}, provisioned(rollingOut), statusNow)
	for i := range prev.Conditions {
		prev.Conditions[i].LastTransitionTime = before
	}

	unavailable := rolledOut(2)
	unavailable.Status.AvailableReplicas = 1
	next := computeStatus(prev, provisioned(unavailable), statusNow)
	t.Run("a condition whose reason changes but not its status keeps its lastTransitionTime", func(t *testing.T) {
		c := findCondition(next.Conditions, lakev1.ConditionIngesterAvailable)
		if c.Reason != lakev1.ReasonUnavailable || !c.LastTransitionTime.Equal(&before) {
			t.Errorf("IngesterAvailable %s/%s since %s, want Unavailable since %s", c.Status, c.Reason, c.LastTransitionTime, before)
		}
	})
	t.Run("a condition that stays True keeps its lastTransitionTime", func(t *testing.T) {
		if c := findCondition(next.Conditions, lakev1.ConditionStorageReady); !c.LastTransitionTime.Equal(&before) {
			t.Errorf("StorageReady moved to %s", c.LastTransitionTime)
		}
	})

	later := statusNow.Add(time.Minute)
	done := computeStatus(next, provisioned(rolledOut(2)), later)
	t.Run("a condition whose status changes moves its lastTransitionTime to now", func(t *testing.T) {
		c := findCondition(done.Conditions, lakev1.ConditionReady)
		if c.Status != metav1.ConditionTrue || !c.LastTransitionTime.Time.Equal(later) {
			t.Errorf("Ready %s since %s, want True since %s", c.Status, c.LastTransitionTime, later)
		}
	})
	t.Run("the previous status is not changed", func(t *testing.T) {
		if c := findCondition(next.Conditions, lakev1.ConditionReady); c.Status != metav1.ConditionFalse {
			t.Errorf("computing a new status rewrote the previous one: Ready is %s", c.Status)
		}
	})
}

func TestComputeStatusReportsWhatWasObserved(t *testing.T) {
	d := rolledOut(3)
	d.Status.ReadyReplicas = 2
	o := provisioned(d)
	o.tokens = []lakev1.TokenStatus{{Name: "claude", SecretName: "team-a-token-claude"}}
	o.placement = &lakev1.StorageStatus{Bucket: "tl-team-a-team-a", CredentialsSecretName: "team-a-storage"}
	o.selector = "app.kubernetes.io/instance=team-a"
	st := computeStatus(lakev1.TelemetryLakeStatus{}, o, statusNow)
	if st.Replicas != 3 || st.ReadyReplicas != 2 {
		t.Errorf("replicas %d/%d, want 3/2 from the Deployment", st.ReadyReplicas, st.Replicas)
	}
	if st.Endpoint != o.endpoint || st.Selector != o.selector || st.Storage != o.placement || len(st.Tokens) != 1 {
		t.Errorf("the status does not carry what was observed: %+v", st)
	}
}

func TestComputeStatusDuringDeletion(t *testing.T) {
	prev := computeStatus(lakev1.TelemetryLakeStatus{}, provisioned(rolledOut(2)), statusNow)
	prev.ObservedGeneration = statusGeneration - 1
	lake := statusLake()
	st := computeStatus(prev, observedDeletion(lake, stepFailed(lakev1.ReasonDeleting, "cleanup failed, retrying: store down")), statusNow)

	t.Run("a failed cleanup turns Ready False with Deleting and says why", func(t *testing.T) {
		c := findCondition(st.Conditions, lakev1.ConditionReady)
		if c.Status != metav1.ConditionFalse || c.Reason != lakev1.ReasonDeleting || !strings.Contains(c.Message, "store down") {
			t.Errorf("Ready %s/%s %q, want False/Deleting naming the failure", c.Status, c.Reason, c.Message)
		}
		if c.ObservedGeneration != lake.Generation {
			t.Errorf("Ready describes generation %d, want %d", c.ObservedGeneration, lake.Generation)
		}
	})
	t.Run("the other conditions and fields keep what they said, since deletion does not look at them", func(t *testing.T) {
		for _, typ := range []string{lakev1.ConditionStorageReady, lakev1.ConditionCredentialsReady, lakev1.ConditionIngesterAvailable} {
			if *findCondition(st.Conditions, typ) != *findCondition(prev.Conditions, typ) {
				t.Errorf("%s changed during deletion", typ)
			}
		}
		if st.ObservedGeneration != prev.ObservedGeneration || st.Endpoint != prev.Endpoint || st.Replicas != prev.Replicas {
			t.Errorf("status fields changed during deletion: %+v", st)
		}
	})
	t.Run("the previous status is not changed", func(t *testing.T) {
		if findCondition(prev.Conditions, lakev1.ConditionReady).Status != metav1.ConditionTrue {
			t.Error("computing the deletion status rewrote the previous one")
		}
	})
}

func TestIngesterStep(t *testing.T) {
	cases := []struct {
		name   string
		d      func(*appsv1.Deployment)
		state  stepState
		reason string
	}{
		{name: "every pod runs the current template and is available", state: stateDone},
		{name: "a template the Deployment controller has not seen yet is rolling out", state: stateFailed, reason: lakev1.ReasonRollingOut,
			d: func(d *appsv1.Deployment) { d.Generation = 8 }},
		{name: "too few pods on the current template is rolling out", state: stateFailed, reason: lakev1.ReasonRollingOut,
			d: func(d *appsv1.Deployment) { d.Status.UpdatedReplicas = 1 }},
		{name: "old pods still running beside the new ones is rolling out", state: stateFailed, reason: lakev1.ReasonRollingOut,
			d: func(d *appsv1.Deployment) { d.Status.Replicas = 3 }},
		{name: "rolled out with too few available pods is unavailable", state: stateFailed, reason: lakev1.ReasonUnavailable,
			d: func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 1 }},
		{name: "unset replicas mean one pod", state: stateDone,
			d: func(d *appsv1.Deployment) {
				d.Spec.Replicas = nil
				d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.AvailableReplicas = 1, 1, 1
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := rolledOut(2)
			if c.d != nil {
				c.d(d)
			}
			got := ingesterStep(d)
			if got.state != c.state || got.reason != c.reason {
				t.Errorf("got state %d reason %q (%s), want state %d reason %q", got.state, got.reason, got.message, c.state, c.reason)
			}
		})
	}
	t.Run("no Deployment yet waits", func(t *testing.T) {
		if got := ingesterStep(nil); got.state != stateWaiting {
			t.Errorf("got %+v, want waiting", got)
		}
	})
}

// With spec.query, Ready waits for the query server too, and QueryAvailable says how it stands;
// without it, there is no QueryAvailable condition, even one left from before.
func TestComputeStatusReportsTheQueryServer(t *testing.T) {
	withQuery := func(d *appsv1.Deployment) observed {
		o := provisioned(rolledOut(2))
		o.query, o.queryDeployment = true, d
		return o
	}
	rolling := rolledOut(1)
	rolling.Status.UpdatedReplicas = 0
	unavailable := rolledOut(2)
	unavailable.Status.AvailableReplicas = 1
	for _, c := range []struct {
		name string
		o    observed
		want conditionsSaid
	}{
		{"rolled out", withQuery(rolledOut(1)), conditionsSaid{"Ready": "True/Ready", "QueryAvailable": "True/Ready"}},
		{"rolling out", withQuery(rolling), conditionsSaid{"Ready": "False/RollingOut", "QueryAvailable": "False/RollingOut"}},
		{"too few pods", withQuery(unavailable), conditionsSaid{"Ready": "False/Unavailable", "QueryAvailable": "False/Unavailable"}},
		{"not deployed yet", withQuery(nil), conditionsSaid{"Ready": "False/WaitingForCredentials", "QueryAvailable": "False/WaitingForCredentials"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := computeStatus(lakev1.TelemetryLakeStatus{}, c.o, statusNow)
			got := said(st)
			for typ, want := range c.want {
				if got[typ] != want {
					t.Errorf("%s = %s, want %s (all: %v)", typ, got[typ], want, got)
				}
			}
			if st.QueryEndpoint != "team-a-query.team-a.svc:5432" {
				t.Errorf("queryEndpoint = %q", st.QueryEndpoint)
			}
			if c.name == "too few pods" && !strings.Contains(findCondition(st.Conditions, lakev1.ConditionQueryAvailable).Message, "query server pods") {
				t.Errorf("QueryAvailable's message does not name the query server: %+v", st.Conditions)
			}
		})
	}
	t.Run("turned off", func(t *testing.T) {
		before := computeStatus(lakev1.TelemetryLakeStatus{}, withQuery(rolledOut(1)), statusNow)
		st := computeStatus(before, provisioned(rolledOut(2)), statusNow)
		if got := said(st); got["QueryAvailable"] != "" || got["Ready"] != "True/Ready" || st.QueryEndpoint != "" {
			t.Errorf("without spec.query: %v, queryEndpoint %q", got, st.QueryEndpoint)
		}
	})
}
