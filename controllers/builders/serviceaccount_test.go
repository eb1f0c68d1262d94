package builders

import "testing"

func TestServiceAccount(t *testing.T) {
	checkGolden(t, "serviceaccount", variantMinimal, ServiceAccount(inputs(variantMinimal).Lake))
}
