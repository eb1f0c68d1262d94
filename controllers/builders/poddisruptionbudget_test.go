package builders

import "testing"

func TestPodDisruptionBudget(t *testing.T) {
	cases := []struct {
		variant string
		want    bool
	}{
		{variantMinimal, true},
		{variantAutoscaling, true},
		{variantSingle, false},
		{variantAutoscalingMin1, false},
		{variantFilesystem, false},
		{variantUndefaulted, true},
	}
	for _, c := range cases {
		name := c.variant + " has a budget"
		if !c.want {
			name = c.variant + " has no budget"
		}
		t.Run(name, func(t *testing.T) {
			pdb := PodDisruptionBudget(inputs(c.variant))
			if got := pdb != nil; got != c.want {
				t.Fatalf("PodDisruptionBudget wanted = %v, want %v", got, c.want)
			}
			checkGolden(t, "poddisruptionbudget", c.variant, pdb)
		})
	}
}
