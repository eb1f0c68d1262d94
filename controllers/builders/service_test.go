package builders

import (
	"slices"
	"testing"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

func TestService(t *testing.T) {
	for _, variant := range []string{variantMinimal, variantIngressTLS, variantUndefaulted} {
		t.Run(variant, func(t *testing.T) {
			checkGolden(t, "service", variant, Service(inputs(variant).Lake))
		})
	}
}

// The Service reaches the container by port name, so the names must be the container's, and its
// selector must select the Deployment's pods.
func TestServiceTargetsTheIngesterPorts(t *testing.T) {
	in := inputs(variantMinimal)
	svc, d := Service(in.Lake), Deployment(in, testHash)
	ports := map[string]int32{}
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		ports[p.Name] = p.ContainerPort
	}
	var names []string
	for _, p := range svc.Spec.Ports {
		names = append(names, p.Name)
		if target, ok := ports[p.TargetPort.String()]; !ok {
			t.Errorf("Service port %s targets %q, which the container does not name", p.Name, p.TargetPort.String())
		} else if target != p.Port {
			t.Errorf("Service port %s is %d but its container port is %d", p.Name, p.Port, target)
		}
	}
	if want := []string{wellknown.OTLPHTTPPortName, wellknown.MetricsPortName}; !slices.Equal(names, want) {
		t.Errorf("Service ports = %q, want %q", names, want)
	}
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("the Service selects %s=%s, which the pods do not carry", k, v)
		}
	}
}
