package builders

import "testing"

func TestStorageSecret(t *testing.T) {
	for _, variant := range []string{variantMinimal, variantAuth, variantSessions} {
		t.Run(variant, func(t *testing.T) {
			in := inputs(variant)
			checkGolden(t, "storagesecret", variant, StorageSecret(in.Lake, *in.Credentials))
		})
	}
}
