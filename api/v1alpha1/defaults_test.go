package v1alpha1

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// The Default* constants are the controller's fallbacks for a field the API server did not
// default. They must say what the +kubebuilder:default markers say, as controller-gen wrote them
// into config/crd/bases.
func TestGoDefaultsMatchTheCRDs(t *testing.T) {
	cases := []struct {
		crd, path string
		// same compares the CRD's default with the Go constant.
		same func(crdDefault any) bool
		want any
	}{
		{
			crd: "lake.telemetrylake.io_telemetrylakes.yaml", path: "auth.rotationOverlap", want: DefaultRotationOverlap,
			same: func(d any) bool {
				s, _ := d.(string)
				parsed, err := time.ParseDuration(s)
				return err == nil && parsed == DefaultRotationOverlap
			},
		},
		{
			crd: "lake.telemetrylake.io_lakestorageclasses.yaml", path: "deletionPolicy", want: DefaultDeletionPolicy,
			same: func(d any) bool { return d == string(DefaultDeletionPolicy) },
		},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("spec.%s defaults to %v in the CRD as in Go", c.path, c.want), func(t *testing.T) {
			prop := crdSpecSchema(t, c.crd)
			for _, name := range strings.Split(c.path, ".") {
				next, ok := prop["properties"].(map[string]any)[name].(map[string]any)
				if !ok {
					t.Fatalf("the CRD has no spec.%s", c.path)
				}
				prop = next
			}
			if !c.same(prop["default"]) {
				t.Errorf("the CRD defaults spec.%s to %v, the Go constant to %v", c.path, prop["default"], c.want)
			}
		})
	}
}

func crdSpecSchema(t *testing.T, file string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", file))
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	return crd.Spec.Versions[0].Schema.OpenAPIV3Schema["properties"].(map[string]any)["spec"].(map[string]any)
}
