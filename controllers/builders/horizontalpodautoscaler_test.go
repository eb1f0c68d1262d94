package builders

import "testing"

func TestHorizontalPodAutoscaler(t *testing.T) {
	cases := []struct {
		variant string
		want    bool
	}{
		{variantAutoscaling, true},
		{variantAutoscalingMin1, true},
		{variantMinimal, false},
		{variantFilesystem, false}, // asks for autoscaling, but one volume allows one pod
	}
	for _, c := range cases {
		t.Run(c.variant, func(t *testing.T) {
			hpa := HorizontalPodAutoscaler(inputs(c.variant))
			if got := hpa != nil; got != c.want {
				t.Fatalf("HorizontalPodAutoscaler wanted = %v, want %v", got, c.want)
			}
			checkGolden(t, "horizontalpodautoscaler", c.variant, hpa)
			if hpa != nil {
				d := Deployment(inputs(c.variant), testHash)
				if ref := hpa.Spec.ScaleTargetRef; ref.Name != d.Name || ref.Kind != d.Kind || ref.APIVersion != d.APIVersion {
					t.Errorf("scaleTargetRef = %+v, want the Deployment %s %s %s", ref, d.APIVersion, d.Kind, d.Name)
				}
			}
		})
	}
}
