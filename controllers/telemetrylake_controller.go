// Package controllers holds the operator's reconcilers: one per resource kind. Desired child
// objects come from the pure functions in builders/; external state (buckets, IAM users) from
// provision/. The reconcilers only orchestrate, and they write a TelemetryLake's status and
// finalizer, never its spec.
package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/source"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers/builders"
	"github.com/telemetrylake/telemetrylake/controllers/provision"
)

// TelemetryLakeReconciler provisions a tenant's whole stack from its TelemetryLake.
type TelemetryLakeReconciler struct {
	Client client.Client
	Scheme *runtime.Scheme
	Events events.EventRecorder
	// OperatorNamespace holds the LakeStorageClasses' admin Secrets.
	OperatorNamespace string
	// IngesterImage is the image the ingester runs unless a lake overrides it.
	IngesterImage string
	// LakehouseImage is the image of the materialization CronJob unless a lake overrides it.
	LakehouseImage string
	// ServiceAccountIssuer is the cluster's service-account token issuer, for in-cluster callers.
	ServiceAccountIssuer string
	// NewProvisioner reaches an object store with admin credentials.
	NewProvisioner func(ctx context.Context, ep provision.Endpoint) (provision.BucketProvisioner, error)
	// APIReader reads past the cache: tenants' own Secrets (OIDC CAs), and the objects whose
	// cached copy predates the operator's own last write of them (ownWrites).
	APIReader client.Reader
	// Now is the clock; tests may set it.
	Now func() time.Time
	// MaxConcurrentReconciles is the number of workers; 0 means DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int
	// StoreCallsPerClass bounds the lakes of one LakeStorageClass whose store calls run at once;
	// 0 means DefaultStoreCallsPerClass.
	StoreCallsPerClass int
	// StoreCheckInterval is how often a provisioned lake's store calls run anyway, to repair what
	// changed in the store behind the operator's back; 0 means DefaultStoreCheckInterval.
	StoreCheckInterval time.Duration
	// SessionRefreshAhead is how long before an STS session expires it is replaced (credentials
	// mode AssumeRole); 0 means provision.RefreshAt's third of the session, with jitter.
	SessionRefreshAhead time.Duration

	provisionersMu sync.Mutex
	provisioners   map[[32]byte]provision.BucketProvisioner
	gates          *storeGates
	// slotFreed carries the wake-ups of lakes whose turn for a store slot has come (wakeForSlot).
	slotFreed chan event.TypedGenericEvent[*lakev1.TelemetryLake]
	// writes are the operator's own writes the cache has not shown yet: children and lakes alike.
	writes ownWrites
}

// DefaultMaxConcurrentReconciles is the number of TelemetryLake workers. With one (the
// controller-runtime default), 300 lakes were not onboarded in 15 minutes while the manager used
// 2-8 % of a core: the worker was busy 99.7 % of the time, mostly waiting on the store and the
// API server (issue 13). Store calls are bounded per class (DefaultStoreCallsPerClass), so the
// workers beyond those serve the reconciles that only read the cache and apply. Measured with
// make bench-operator, 300 lakes of the shared-bucket class, all Ready after: 4 workers 222.6 s,
// 8 150.9 s, 16 124.6 s, 32 145.0 s (one run each, 2 December 2026, the machine's load average
// 8-16 from other work). A worker spends its reconcile waiting on the API server (every one of
// the 16 was in a request when sampled), so more help until the API server's own latency grows
// with them; 32 was no faster than 16.
const DefaultMaxConcurrentReconciles = 16

// RBAC, and why each rule exists:
// - lakes: read and watch them; patch only to add or remove the cleanup finalizer (the spec is never
//   written); status is the controller's report; finalizers/update lets children carry
//   blockOwnerDeletion owner references.
// +kubebuilder:rbac:groups=lake.telemetrylake.io,resources=telemetrylakes,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=lake.telemetrylake.io,resources=telemetrylakes/status,verbs=get;patch
// +kubebuilder:rbac:groups=lake.telemetrylake.io,resources=telemetrylakes/finalizers,verbs=update
// - storage classes: read and watch, to resolve a lake's class and follow its changes.
// +kubebuilder:rbac:groups=lake.telemetrylake.io,resources=lakestorageclasses,verbs=get;list;watch
// - children, in any tenant namespace: server-side apply (patch, and create for a new object) and
//   list/watch to notice drift. Delete only for the kinds the spec can stop asking for (token and
//   storage Secrets, PDB, HPA, Ingress, the lakehouse CronJob, and spec.query's Deployment,
//   Service and Secrets); the rest go with the lake through owner references.
//   Secrets are the one kind whose reads reach beyond the operator's own objects: the admin
//   credentials in its namespace, and the OIDC CA Secrets a lake names (their data read one by one;
//   only their metadata is watched).
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=serviceaccounts;persistentvolumeclaims,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=batch,resources=cronjobs,verbs=get;list;watch;create;patch;delete
// - events: the story of every provisioning step and failure.
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile reads as the story of one tenant: load the lake, handle deletion, find its storage
// class, provision storage and credentials, issue tokens, apply the children, and report.
func (r *TelemetryLakeReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	lake, err := r.currentLake(ctx, req.NamespacedName)
	if err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !lake.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, lake)
	}
	if !controllerutil.ContainsFinalizer(lake, wellknown.Finalizer) {
		patch := client.MergeFrom(lake.DeepCopy())
		controllerutil.AddFinalizer(lake, wellknown.Finalizer)
		if err := r.Client.Patch(ctx, lake, patch); err != nil {
			return ctrl.Result{}, err
		}
		r.writes.record(keyOf(lakeKind, lake), lake.ResourceVersion)
	}

	obs := newObserved(lake)
	class, st := r.resolveStorageClass(ctx, lake)
	if !st.done() {
		obs.storage = st
		return r.report(ctx, lake, obs, time.Time{})
	}
	names := builders.NamesFor(lake)
	existing, err := r.secretOf(ctx, lake, names.StorageSecret)
	if err != nil {
		return ctrl.Result{}, err
	}
	existingQuery, err := r.secretOf(ctx, lake, names.QueryStorageSecret)
	if err != nil {
		return ctrl.Result{}, err
	}
	facts, storageStep, credentialsStep := r.provisionStorage(ctx, lake, class, existing, existingQuery)
	if storageStep.state == stateWaiting && facts.retryAfter > 0 {
		// The class's store slots are all in use: come back without a word, as nothing failed.
		return ctrl.Result{RequeueAfter: facts.retryAfter}, nil
	}
	obs.storage, obs.credentials = storageStep, credentialsStep
	obs.placement = placementStatus(lake, facts)
	obs.retryAfter = facts.retryAfter
	if !storageStep.done() || !credentialsStep.done() {
		return r.report(ctx, lake, obs, time.Time{})
	}

	tokens, wakeAt, err := r.issueTokens(ctx, lake, r.Now())
	if err != nil {
		return ctrl.Result{}, err
	}
	wakeAt = earliest(wakeAt, facts.recheckAt)
	cas, st, err := r.oidcCAs(ctx, lake)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !st.done() {
		obs.config = st
		return r.report(ctx, lake, obs, time.Time{})
	}
	desired, err := builders.Build(builders.Inputs{
		Lake:                 lake,
		Class:                class,
		StorageURL:           facts.url,
		Credentials:          facts.credentials,
		QueryCredentials:     facts.queryCredentials,
		Tokens:               tokens,
		IngesterImage:        r.IngesterImage,
		LakehouseImage:       r.LakehouseImage,
		ServiceAccountIssuer: r.ServiceAccountIssuer,
		OIDCCAs:              cas,
	})
	if err != nil {
		obs.config = stepFailed(lakev1.ReasonInvalidSpec, "%v", err)
		return r.report(ctx, lake, obs, time.Time{})
	}
	obs.config = stepDone()
	deployments, err := r.applyChildren(ctx, lake, desired)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.removeRetiredTokens(ctx, lake); err != nil {
		return ctrl.Result{}, err
	}
	obs.deployment = deployments[names.Ingester]
	if lake.Spec.Query.Enabled {
		obs.queryDeployment = deployments[names.Query]
	}
	obs.tokens = tokenStatuses(lake, tokens)
	obs.selector = desired.Selector
	return r.report(ctx, lake, obs, wakeAt)
}

var lakeKind = lakev1.GroupVersion.WithKind("TelemetryLake")

// currentLake reads a lake from the cache, or past it when the cache has not yet seen this
// operator's last write of it (its status or finalizer): from such a copy a reconcile would
// write and announce again the status change it has just written. That happens when a child's
// event brings the lake back within moments of its last reconcile.
func (r *TelemetryLakeReconciler) currentLake(ctx context.Context, key client.ObjectKey) (*lakev1.TelemetryLake, error) {
	lake := &lakev1.TelemetryLake{}
	err := r.Client.Get(ctx, key, lake)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	if r.writes.cacheBehind(writeKey{gvk: lakeKind, key: key}, lake.ResourceVersion, err == nil) {
		lake = &lakev1.TelemetryLake{}
		err = r.APIReader.Get(ctx, key, lake)
	}
	if apierrors.IsNotFound(err) {
		r.writes.forget(writeKey{gvk: lakeKind, key: key})
	}
	return lake, err
}

// secretOf reads a storage Secret of the tenant (its own, or its query server's) from the cache, or
// nil: provisioning keeps its key, and skips the store when its record says nothing changed.
func (r *TelemetryLakeReconciler) secretOf(ctx context.Context, lake *lakev1.TelemetryLake, name string) (*corev1.Secret, error) {
	var secret corev1.Secret
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: lake.Namespace, Name: name}, &secret)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &secret, nil
}

func (r *TelemetryLakeReconciler) storeCheckInterval() time.Duration {
	if r.StoreCheckInterval > 0 {
		return r.StoreCheckInterval
	}
	return DefaultStoreCheckInterval
}

// earliest of two times, a zero one being none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// applyChildren applies every desired child, removes those the spec no longer wants, and returns
// the Deployments as they stand after the apply, by name: from the API server's answer to a
// write, else from the cache, which then holds the operator's last write (applier.read). A
// Deployment is never reported from a copy older than the template this operator last applied,
// so Ready is not reported for a generation no pod runs yet.
func (r *TelemetryLakeReconciler) applyChildren(ctx context.Context, lake *lakev1.TelemetryLake, desired builders.Objects) (map[string]*appsv1.Deployment, error) {
	a := &applier{client: r.Client, scheme: r.Scheme, reader: r.APIReader, writes: &r.writes}
	deployments := map[string]*appsv1.Deployment{}
	for _, obj := range desired.Apply {
		live, wrote, err := a.apply(ctx, obj)
		if err != nil {
			r.Events.Eventf(lake, nil, corev1.EventTypeWarning, "ApplyFailed", "Apply", "%v", err)
			return nil, err
		}
		if wrote {
			log.FromContext(ctx).Info("applied", "kind", fmt.Sprintf("%T", obj), "name", obj.GetName())
		}
		if d, ok := live.(*appsv1.Deployment); ok {
			deployments[d.Name] = d
		}
	}
	for _, obj := range desired.Remove {
		if removed, err := a.remove(ctx, obj); err != nil {
			return nil, err
		} else if removed {
			r.Events.Eventf(lake, nil, corev1.EventTypeNormal, "Removed", "Remove", "removed %T %s, which the spec no longer asks for", obj, obj.GetName())
		}
	}
	return deployments, nil
}

// report writes the status of what this reconcile observed and says when to come back. A step
// that failed for a reason retrying can fix is retried with the controller's backoff; a token
// whose validity changes later brings the reconcile back at that time.
func (r *TelemetryLakeReconciler) report(ctx context.Context, lake *lakev1.TelemetryLake, obs observed, wakeAt time.Time) (ctrl.Result, error) {
	if err := r.writeStatus(ctx, lake, obs); err != nil {
		return ctrl.Result{}, err
	}
	for _, s := range []step{obs.storage, obs.credentials, obs.config} {
		if !s.failed() {
			continue
		}
		provisioningFailures.WithLabelValues(s.reason).Inc()
		if obs.retryAfter > 0 {
			// The class's circuit breaker is open and says when it lets a probe through.
			return ctrl.Result{RequeueAfter: obs.retryAfter}, nil
		}
		if !isTerminal(s.reason) {
			return ctrl.Result{}, fmt.Errorf("%s: %s", s.reason, s.message)
		}
	}
	if !wakeAt.IsZero() {
		return ctrl.Result{RequeueAfter: wakeAt.Sub(r.Now()) + time.Second}, nil
	}
	return ctrl.Result{}, nil
}

// writeStatus is the one path by which a TelemetryLake's status is written, by the reconcile and
// by the finalizer alike: computeStatus derives it from what was observed, every changed condition
// is announced as an event, and the patch is sent only if something changed.
func (r *TelemetryLakeReconciler) writeStatus(ctx context.Context, lake *lakev1.TelemetryLake, obs observed) error {
	status := computeStatus(lake.Status, obs, r.Now())
	r.announce(lake, lake.Status, status)
	if equality.Semantic.DeepEqual(status, lake.Status) {
		return nil
	}
	patch := client.MergeFrom(lake.DeepCopy())
	lake.Status = status
	if err := r.Client.Status().Patch(ctx, lake, patch); err != nil {
		return err
	}
	r.writes.record(keyOf(lakeKind, lake), lake.ResourceVersion)
	return nil
}

// announce tells the story of provisioning and of every failure in `kubectl describe`: one event
// for a status write that changes a condition's status or reason, naming every such change, with
// the reason of Ready when Ready changed (else of the first condition that did). A change of a
// message alone (a roll-out's pod counts) is in the status, not in an event. One event a change
// per condition, message changes included, was 8 event creations and 3 event patches a lake while
// onboarding, the largest share of the operator's requests (make bench-operator, 300 lakes).
func (r *TelemetryLakeReconciler) announce(lake *lakev1.TelemetryLake, before, after lakev1.TelemetryLakeStatus) {
	var changes []string
	var first *metav1.Condition
	kind := corev1.EventTypeNormal
	for i, c := range after.Conditions {
		old := findCondition(before.Conditions, c.Type)
		if old != nil && old.Status == c.Status && old.Reason == c.Reason {
			continue
		}
		if first == nil || c.Type == lakev1.ConditionReady {
			first = &after.Conditions[i]
		}
		if c.Status != metav1.ConditionTrue && isTerminal(c.Reason) {
			kind = corev1.EventTypeWarning
		}
		changes = append(changes, fmt.Sprintf("%s=%s (%s): %s", c.Type, c.Status, c.Reason, c.Message))
	}
	if first == nil {
		return
	}
	r.Events.Eventf(lake, nil, kind, first.Reason, first.Type, "%s", eventNote(strings.Join(changes, "; ")))
}

// eventNote fits a note into the 1 kB that the API server accepts for an event's note.
func eventNote(s string) string {
	const limit = 1024
	if len(s) <= limit {
		return s
	}
	cut := limit - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func findCondition(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

func isTerminal(reason string) bool {
	for _, t := range lakev1.TerminalReasons {
		if t == reason {
			return true
		}
	}
	return false
}

func placementStatus(lake *lakev1.TelemetryLake, facts storageFacts) *lakev1.StorageStatus {
	if facts.class == nil || facts.class.Spec.Provisioner == lakev1.ProvisionerFilesystem {
		return &lakev1.StorageStatus{CredentialsSecretName: ""}
	}
	return &lakev1.StorageStatus{
		Bucket:                facts.placement.Bucket,
		Prefix:                facts.placement.Prefix,
		CredentialsSecretName: builders.NamesFor(lake).StorageSecret,
	}
}

func tokenStatuses(lake *lakev1.TelemetryLake, tokens []builders.IssuedToken) []lakev1.TokenStatus {
	names := builders.NamesFor(lake)
	var out []lakev1.TokenStatus
	for _, t := range tokens {
		ts := lakev1.TokenStatus{Name: t.Spec.Name, SecretName: names.TokenSecret(t.Spec.Name)}
		if exp := t.ExpiresAt(); !exp.IsZero() {
			ts.ExpiresAt = &metav1.Time{Time: exp}
		}
		out = append(out, ts)
	}
	return out
}

// SetupWithManager watches the lakes, every child they own, the storage classes they use and the
// Secrets those classes reference.
func (r *TelemetryLakeReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	r.slotFreed = make(chan event.TypedGenericEvent[*lakev1.TelemetryLake], slotWakeups)
	r.gates = newStoreGates(r.StoreCallsPerClass, r.Now, r.wakeForSlot)
	// The manager's cache holds only the Secrets the operator manages (see CacheOptions), so the
	// OIDC CA Secrets that tenants create are watched through a cache of their metadata alone:
	// their data never sits in the operator's memory, and is read on demand.
	tenantSecrets, err := cache.New(mgr.GetConfig(), cache.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return err
	}
	if err := mgr.Add(tenantSecrets); err != nil {
		return err
	}
	secretMeta := &metav1.PartialObjectMetadata{}
	secretMeta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	// The kinds with a status that churns are filtered (watches.go); the others have none to
	// speak of, and any change of theirs is drift to repair.
	return ctrl.NewControllerManagedBy(mgr).
		For(&lakev1.TelemetryLake{}, builder.WithPredicates(lakeChanged)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Watches(&appsv1.Deployment{}, rolloutProgress(), builder.WithPredicates(deploymentChanged)).
		Owns(&corev1.Service{}).
		Owns(&corev1.Secret{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&corev1.PersistentVolumeClaim{}).
		Owns(&policyv1.PodDisruptionBudget{}, builder.WithPredicates(childChanged)).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}, builder.WithPredicates(childChanged)).
		Owns(&networkingv1.Ingress{}, builder.WithPredicates(childChanged)).
		Owns(&batchv1.CronJob{}, builder.WithPredicates(childChanged)).
		Watches(&lakev1.LakeStorageClass{}, r.lakesOfClass()).
		Watches(&corev1.Secret{}, r.lakesOfAdminSecret()).
		WatchesRawSource(source.Kind(tenantSecrets, client.Object(secretMeta), r.lakesOfOIDCCA())).
		WatchesRawSource(source.Channel(r.slotFreed, &handler.TypedEnqueueRequestForObject[*lakev1.TelemetryLake]{})).
		Complete(r)
}
