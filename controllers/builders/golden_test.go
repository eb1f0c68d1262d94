package builders

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/pmezard/go-difflib/difflib"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with what the builders return")

const goldenHeader = "# Golden file of controllers/builders; regenerate with: go test ./controllers/builders -update\n"

const secretHeader = "# Secret data is shown decoded, as stringData, so that a review reads it; the builder sets data.\n"

// checkGolden compares obj, as YAML, with testdata/<kind>_<variant>.yaml, and prints a unified diff
// when they differ. A nil obj means the builder wants no such object: then there must be no golden
// file, so that a stale one cannot pass for a test. With -update it writes (or removes) the file.
func checkGolden(t *testing.T, kind, variant string, obj any) {
	t.Helper()
	file := filepath.Join("testdata", kind+"_"+variant+".yaml")
	if obj == nil || reflect.ValueOf(obj).IsNil() {
		if *update {
			if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			return
		}
		if _, err := os.Stat(file); err == nil {
			t.Errorf("the builder returns no object but %s exists; run go test ./controllers/builders -update", file)
		}
		return
	}
	got := goldenYAML(t, obj)
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v; run go test ./controllers/builders -update to create it", err)
	}
	if !bytes.Equal(got, want) {
		diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(string(want)), B: difflib.SplitLines(string(got)),
			FromFile: file, ToFile: "built", Context: 3,
		})
		t.Errorf("%s differs from what the builder returns (go test ./controllers/builders -update accepts it):\n%s", file, diff)
	}
}

func goldenYAML(t *testing.T, obj any) []byte {
	t.Helper()
	header := goldenHeader
	if s, ok := obj.(*corev1.Secret); ok {
		shown := s.DeepCopy()
		shown.StringData = map[string]string{}
		for k, v := range shown.Data {
			shown.StringData[k] = string(v)
		}
		shown.Data = nil
		obj, header = shown, header+secretHeader
	}
	raw, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(header), raw...)
}
