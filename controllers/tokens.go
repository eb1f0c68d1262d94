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

// issueTokens reads each spec token's Secret and works out the token's current value (tokenAt).
// wakeAt is the next time a token's validity changes, so that the reconcile comes back then.
func (r *TelemetryLakeReconciler) issueTokens(ctx context.Context, lake *lakev1.TelemetryLake, now time.Time) (tokens []builders.IssuedToken, wakeAt time.Time, err error) {
	rotate, overlap := rotationRequest(lake), rotationOverlap(lake)
	names := builders.NamesFor(lake)
	for _, spec := range lake.Spec.Auth.Tokens {
		var secret *corev1.Secret
		s := &corev1.Secret{}
		switch err := r.Client.Get(ctx, client.ObjectKey{Namespace: lake.Namespace, Name: names.TokenSecret(spec.Name)}, s); {
		case err == nil:
			secret = s
		case !apierrors.IsNotFound(err):
			return nil, time.Time{}, err
		}
		t, err := tokenAt(spec, secret, rotate, overlap, now, tokenfile.New)
		if err != nil {
			return nil, time.Time{}, err
		}
		tokens = append(tokens, t)
	}
	return tokens, nextValidityChange(tokens, now), nil
}

// tokenAt is one token as it stands at now, given its Secret (nil before it is first issued):
//   - a token seen for the first time gets a new value;
//   - a rotation asked for and not yet handled gets a successor, and the value it replaces stays
//     valid beside it until overlap has passed;
//   - otherwise the token is what its Secret holds, less a predecessor whose overlap has ended.
//
// newValue makes a fresh token; the clock is now, so that the whole of it is a pure function.
func tokenAt(spec lakev1.TokenSpec, secret *corev1.Secret, rotate rotation, overlap time.Duration, now time.Time, newValue func() (string, error)) (builders.IssuedToken, error) {
	t := builders.ReadToken(spec, secret, now)
	var err error
	switch {
	case t.Value == "":
		if t.Value, err = newValue(); err != nil {
			return t, err
		}
		t.IssuedAt = now
	case rotate.token == spec.Name && rotate.request != t.RotationHandled:
		t.PreviousSHA256, t.PreviousNotAfter = tokenfile.Hash(t.Value), now.Add(overlap)
		if t.Value, err = newValue(); err != nil {
			return t, err
		}
		t.IssuedAt, t.RotationHandled = now, rotate.request
	}
	if t.IssuedAt.IsZero() {
		// Its Secret has no readable issue time: count the token as issued now.
		t.IssuedAt = now
	}
	return t, nil
}

// nextValidityChange is the earliest time after now at which a token or a rotated token's
// predecessor stops being accepted, or zero when none will.
func nextValidityChange(tokens []builders.IssuedToken, now time.Time) time.Time {
	var next time.Time
	for _, t := range tokens {
		for _, when := range []time.Time{t.PreviousNotAfter, t.ExpiresAt()} {
			if when.After(now) && (next.IsZero() || when.Before(next)) {
				next = when
			}
		}
	}
	return next
}

// rotationOverlap is spec.auth.rotationOverlap, or its default on an object the API server did
// not default.
func rotationOverlap(lake *lakev1.TelemetryLake) time.Duration {
	if o := lake.Spec.Auth.RotationOverlap; o != nil {
		return o.Duration
	}
	return lakev1.DefaultRotationOverlap
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
