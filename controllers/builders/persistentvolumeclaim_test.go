package builders

import (
	"strings"
	"testing"
)

func TestPersistentVolumeClaim(t *testing.T) {
	cases := []struct {
		variant   string
		want      bool
		wantOwner bool
	}{
		{variantFilesystem, true, false}, // Retain: the data outlives the lake
		{variantFilesystemDelete, true, true},
		{variantMinimal, false, false},
	}
	for _, c := range cases {
		t.Run(c.variant, func(t *testing.T) {
			pvc, err := PersistentVolumeClaim(inputs(c.variant))
			if err != nil {
				t.Fatal(err)
			}
			if got := pvc != nil; got != c.want {
				t.Fatalf("PersistentVolumeClaim wanted = %v, want %v", got, c.want)
			}
			checkGolden(t, "persistentvolumeclaim", c.variant, pvc)
			if pvc != nil && (len(pvc.OwnerReferences) > 0) != c.wantOwner {
				t.Errorf("ownerReferences = %v, want owned = %v", pvc.OwnerReferences, c.wantOwner)
			}
		})
	}
}

func TestPersistentVolumeClaimRefusesABadSize(t *testing.T) {
	in := inputs(variantFilesystem)
	in.Class.Spec.Filesystem.Size = "ten gigs"
	_, err := PersistentVolumeClaim(in)
	if err == nil || !strings.Contains(err.Error(), `LakeStorageClass local: spec.filesystem.size "ten gigs"`) {
		t.Fatalf("err = %v, want the class and field named", err)
	}
}
