package builders

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/telemetrylake/telemetrylake/api/v1alpha1"
)

func TestNames(t *testing.T) {
	lake := &v1alpha1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Namespace: "shop"}}
	n := NamesFor(lake)
	for _, c := range []struct{ what, got, want string }{
		{"ingester", n.Ingester, "team-a-ingester"},
		{"storage Secret", n.StorageSecret, "team-a-storage"},
		{"auth Secret", n.AuthSecret, "team-a-ingester-auth"},
		{"config Secret", n.ConfigSecret, "team-a-ingester-config"},
		{"data volume claim", n.DataVolumeClaim, "team-a-data"},
		{"token Secret", n.TokenSecret("claude"), "team-a-token-claude"},
		{"endpoint", Endpoint(lake), "http://team-a-ingester.shop.svc:4318/ingestion/otlp"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
}
