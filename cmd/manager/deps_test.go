package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The operator renders the ingester's config and token file, but it must never carry the
// ingester's HTTP stack: that would put an OTLP server, the wire codec and an OIDC client into a
// binary that holds the object store's admin keys. The contracts it shares with the ingester live
// in light packages under api/ and lake/ for exactly this reason.
func TestTheManagerDoesNotLinkTheIngesterServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/telemetrylake/telemetrylake/ingester/",
		"go.opentelemetry.io/collector/pdata",
		"github.com/coreos/go-oidc",
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps printed %d packages; expected the manager's whole dependency graph", len(deps))
	}
	for _, dep := range deps {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("the manager links %s (matches %q)", dep, f)
			}
		}
	}
}
