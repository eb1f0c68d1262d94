package builders

import (
	"testing"

	"k8s.io/utils/ptr"
)

func TestCronJob(t *testing.T) {
	cases := []struct {
		variant string
		want    bool
	}{
		{variantMinimal, true},
		{variantScheduling, true},
		{variantSessions, true},
		{variantFilesystem, false}, // its volume can be mounted by the ingester alone
	}
	for _, c := range cases {
		t.Run(c.variant, func(t *testing.T) {
			in := inputs(c.variant)
			cj := CronJob(in)
			if got := cj != nil; got != c.want {
				t.Fatalf("CronJob wanted = %v, want %v", got, c.want)
			}
			checkGolden(t, "cronjob", c.variant, cj)
			if cj == nil {
				return
			}
			if cj.Spec.ConcurrencyPolicy != "Forbid" {
				t.Errorf("concurrencyPolicy %s", cj.Spec.ConcurrencyPolicy)
			}
			pod := cj.Spec.JobTemplate.Spec.Template.Spec
			for _, e := range pod.Containers[0].Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef.Name != NamesFor(in.Lake).StorageSecret {
					t.Errorf("env %s comes from Secret %s, not the tenant's storage Secret", e.Name, e.ValueFrom.SecretKeyRef.Name)
				}
			}
			if args := pod.Containers[0].Args; len(args) != 4 || args[0] != "materialize" || args[3] != in.StorageURL {
				t.Errorf("args %v", args)
			}
		})
	}
}

func TestCronJobCanBeTurnedOff(t *testing.T) {
	in := inputs(variantMinimal)
	in.Lake.Spec.Lakehouse.Enabled = ptr.To(false)
	if cj := CronJob(in); cj != nil {
		t.Error("spec.lakehouse.enabled=false still gives a CronJob")
	}
	objs, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs.Remove {
		if o.GetName() == NamesFor(in.Lake).Lakehouse {
			return
		}
	}
	t.Errorf("Build does not remove the CronJob when the lakehouse is disabled")
}
