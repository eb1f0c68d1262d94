package builders

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/controllers/provision"
)

// Every Go fallback for an unset field must be the CRD's default, which the markers in
// api/v1alpha1 define and controller-gen writes into config/crd/bases. A marker cannot name a Go
// constant, so this one test pins each marker to the one Go constant for it, wherever that lives:
// the builders' own, the ingester's (api/ingesterconfig), the controller's (api/v1alpha1) and the
// provisioner's bucket template.
func TestDefaultsMatchTheCRDs(t *testing.T) {
	lake := crdSpecSchema(t, "lake.telemetrylake.io_telemetrylakes.yaml")
	class := crdSpecSchema(t, "lake.telemetrylake.io_lakestorageclasses.yaml")
	cases := []struct {
		schema map[string]any
		path   string
		want   any
	}{
		{lake, "ingester.replicas", defaultReplicas},
		{lake, "ingester.autoscaling.minReplicas", defaultMinReplicas},
		{lake, "ingester.autoscaling.targetCPUUtilizationPercentage", defaultTargetCPUPercent},
		{lake, "ingester.maxRequestBodyBytes", ingesterconfig.DefaultMaxBodyBytes},
		{lake, "ingester.logLevel", defaultLogLevel},
		{lake, "service.type", string(defaultServiceType)},
		{lake, "lakehouse.schedule", defaultLakehouseSchedule},
		{lake, "query.replicas", defaultQueryReplicas},
		{lake, "query.enabled", false},
		{lake, "auth.rotationOverlap", v1alpha1.DefaultRotationOverlap},
		{class, "filesystem.size", defaultFilesystemSize},
		{class, "deletionPolicy", string(v1alpha1.DefaultDeletionPolicy)},
		{class, "bucket.nameTemplate", provision.DefaultBucketTemplate},
		{class, "credentials.mode", string(v1alpha1.CredentialModeIAMUser)},
		{class, "credentials.sessionDuration", v1alpha1.DefaultSessionDuration},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			prop := c.schema
			for _, name := range strings.Split(c.path, ".") {
				next, ok := prop["properties"].(map[string]any)[name].(map[string]any)
				if !ok {
					t.Fatalf("the CRD has no spec.%s", c.path)
				}
				prop = next
			}
			got := fmt.Sprint(prop["default"])
			if f, isNumber := prop["default"].(float64); isNumber {
				got = strconv.FormatFloat(f, 'f', -1, 64)
			}
			if _, isDuration := c.want.(time.Duration); isDuration {
				d, err := time.ParseDuration(got)
				if err != nil {
					t.Fatalf("the CRD defaults spec.%s to %q, not a duration", c.path, got)
				}
				got = d.String()
			}
			if want := fmt.Sprint(c.want); got != want {
				t.Errorf("the CRD defaults spec.%s to %s, the builders to %s", c.path, got, want)
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
