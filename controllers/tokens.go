package controllers

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/telemetrylake/telemetrylake/api/tokenfile"
	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/controllers/builders"
)

// defaultRotationOverlap matches the CRD's default for spec.auth.rotationOverlap.
const defaultRotationOverlap = 24 * time.Hour

// issueTokens works out each spec token's current value: the one in its Secret, a new one for a
// token seen for the first time, or a successor when a rotation is asked for. During a rotation
// the predecessor stays valid until the overlap ends. wakeAt is the next time a token's validity
// changes, so that the reconcile comes back then.
func (r *TelemetryLakeReconciler) issueTokens(ctx context.Context, lake *lakev1.TelemetryLake, now time.Time) (tokens []builders.IssuedToken, wakeAt time.Time, err error) {
	rotate := rotationRequest(lake)
	overlap := defaultRotationOverlap
	if o := lake.Spec.Auth.RotationOverlap; o != nil {
		overlap = o.Duration
	}
	names := builders.NamesFor(lake)
	for _, spec := range lake.Spec.Auth.Tokens {
		var secret *corev1.Secret
		s := &corev1.Secret{}
		switch err := r.Client.Get(ctx, client.ObjectKey{Namespace: lake.Namespace, Name: names.TokenSecret(spec.Name)}, s); {
		case err == nil:
			secret = s
		case !apierrors.IsNotFound(err):
			return nil, wakeAt, err
		}
		t := builders.ReadToken(spec, secret, now)
		switch {
		case t.Value == "":
			if t.Value, err = tokenfile.New(); err != nil {
				return nil, wakeAt, err
			}
			t.IssuedAt = now
		case rotate.token == spec.Name && rotate.request != t.RotationHandled:
			t.PreviousSHA256, t.PreviousNotAfter = tokenfile.Hash(t.Value), now.Add(overlap)
			if t.Value, err = tokenfile.New(); err != nil {
				return nil, wakeAt, err
			}
			t.IssuedAt, t.RotationHandled = now, rotate.request
		}
		if t.IssuedAt.IsZero() {
			t.IssuedAt = now
		}
		for _, when := range []time.Time{t.PreviousNotAfter, t.ExpiresAt()} {
			if when.After(now) && (wakeAt.IsZero() || when.Before(wakeAt)) {
				wakeAt = when
			}
		}
		tokens = append(tokens, t)
	}
	return tokens, wakeAt, nil
}

type rotation struct{ token, request string }

// rotationRequest reads the rotate-token annotation: "<token>", or "<token>:<anything>" to rotate
// the same token again later (each distinct value is one rotation).
func rotationRequest(lake *lakev1.TelemetryLake) rotation {
	v := strings.TrimSpace(lake.Annotations[wellknown.AnnotationRotateToken])
	if v == "" {
		return rotation{}
	}
	token, _, _ := strings.Cut(v, ":")
	return rotation{token: token, request: v}
}

// removeRetiredTokens deletes the Secrets of tokens no longer in the spec: Build cannot name them.
func (r *TelemetryLakeReconciler) removeRetiredTokens(ctx context.Context, lake *lakev1.TelemetryLake) error {
	var secrets corev1.SecretList
	err := r.Client.List(ctx, &secrets, client.InNamespace(lake.Namespace), client.MatchingLabels{
		wellknown.LabelInstance: lake.Name, wellknown.LabelComponent: wellknown.ComponentToken, wellknown.LabelManagedBy: wellknown.ManagedBy,
	})
	if err != nil {
		return err
	}
	wanted := map[string]bool{}
	names := builders.NamesFor(lake)
	for _, t := range lake.Spec.Auth.Tokens {
		wanted[names.TokenSecret(t.Name)] = true
	}
	for i := range secrets.Items {
		s := &secrets.Items[i]
		if wanted[s.Name] || !metav1.IsControlledBy(s, lake) {
			continue
		}
		if err := r.Client.Delete(ctx, s); client.IgnoreNotFound(err) != nil {
			return err
		}
		r.Events.Eventf(lake, nil, corev1.EventTypeNormal, "TokenRevoked", "Revoke", "deleted Secret %s: its token is no longer in spec.auth.tokens", s.Name)
	}
	return nil
}
