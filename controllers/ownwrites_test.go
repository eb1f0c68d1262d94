package controllers

import (
	"net/url"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestOwnWrites(t *testing.T) {
	gvk := appsv1.SchemeGroupVersion.WithKind("Deployment")
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "lake-ingester"}}
	k := keyOf(gvk, d)
	var w ownWrites
	if w.cacheBehind(k, "10", true) {
		t.Error("with no write of its own, the operator distrusts the cache")
	}
	w.record(k, "20")
	if !w.cacheBehind(k, "", false) {
		t.Error("an object the operator wrote, missing from the cache, is trusted as gone")
	}
	if !w.cacheBehind(k, "19", true) {
		t.Error("a cached copy older than the operator's own write is trusted")
	}
	if w.cacheBehind(k, "21", true) {
		t.Error("a cached copy past the operator's own write is distrusted")
	}
	if w.cacheBehind(k, "", false) {
		t.Error("once the cache caught up with the write, a later miss is still distrusted")
	}
	w.record(k, "30")
	w.forgetNamespace("team-a")
	if w.cacheBehind(k, "", false) {
		t.Error("a forgotten write still makes the cache distrusted")
	}
}

func TestAPIRequestKind(t *testing.T) {
	for _, tc := range []struct{ method, url, verb, resource string }{
		{"GET", "/api/v1/namespaces/team-a/secrets/lake-storage", "get", "secrets"},
		{"GET", "/api/v1/secrets?labelSelector=x", "list", "secrets"},
		{"GET", "/api/v1/secrets?watch=true", "watch", "secrets"},
		{"PATCH", "/apis/apps/v1/namespaces/team-a/deployments/lake-ingester?fieldManager=x", "patch", "deployments"},
		{"PATCH", "/apis/lake.telemetrylake.io/v1alpha1/namespaces/team-a/telemetrylakes/lake/status", "patch", "telemetrylakes/status"},
		{"POST", "/apis/events.k8s.io/v1/namespaces/team-a/events", "post", "events"},
		{"GET", "/api/v1/namespaces/team-a", "get", "namespaces"},
		{"GET", "/apis/lake.telemetrylake.io/v1alpha1/lakestorageclasses/shared", "get", "lakestorageclasses"},
		{"GET", "/version", "get", "other"},
	} {
		t.Run(tc.method+" "+tc.url, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			verb, resource := apiRequestKind(tc.method, u)
			if verb != tc.verb || resource != tc.resource {
				t.Errorf("got %s %s, want %s %s", verb, resource, tc.verb, tc.resource)
			}
		})
	}
}

func TestEventNoteFitsTheAPIServersLimit(t *testing.T) {
	long := strings.Repeat("é", 1000)
	note := eventNote(long)
	if len(note) > 1024 || !strings.HasSuffix(note, "…") || !strings.HasPrefix(long, strings.TrimSuffix(note, "…")) {
		t.Errorf("eventNote of %d bytes gave %d bytes: %q", len(long), len(note), note[len(note)-10:])
	}
	if eventNote("short") != "short" {
		t.Error("a short note was changed")
	}
}
