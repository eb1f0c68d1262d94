package main

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/controllers/builders"
)

func TestSecretNamesComeFromTheBuilders(t *testing.T) {
	names := builders.NamesFor(&lakev1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "team-a"}})
	for _, tc := range []struct{ which, want string }{
		{"config", names.ConfigSecret},
		{"auth", names.AuthSecret},
		{"storage", names.StorageSecret},
		{"token:claude", names.TokenSecret("claude")},
	} {
		if got, err := secretName(names, tc.which); err != nil || got != tc.want {
			t.Errorf("secret %s is %q (%v), want %q", tc.which, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "token:", "ingester", "token"} {
		if _, err := secretName(names, bad); err == nil {
			t.Errorf("secret %q was accepted", bad)
		}
	}
}
