package builders

import (
	"testing"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

func TestIngress(t *testing.T) {
	cases := []struct {
		variant string
		want    bool
	}{
		{variantIngressTLS, true},
		{variantIngressPlain, true},
		{variantMinimal, false},
	}
	for _, c := range cases {
		t.Run(c.variant, func(t *testing.T) {
			in := inputs(c.variant)
			ing := Ingress(in.Lake)
			if got := ing != nil; got != c.want {
				t.Fatalf("Ingress wanted = %v, want %v", got, c.want)
			}
			checkGolden(t, "ingress", c.variant, ing)
			if ing == nil {
				return
			}
			backend := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
			svc := Service(in.Lake)
			if backend.Name != svc.Name || backend.Port.Name != wellknown.OTLPHTTPPortName {
				t.Errorf("backend = %s:%s, want %s:%s", backend.Name, backend.Port.Name, svc.Name, wellknown.OTLPHTTPPortName)
			}
		})
	}
}
