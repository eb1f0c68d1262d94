package builders

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// child is what every builder returns.
type child interface {
	metav1.Object
	runtime.Object
}

// buildAll runs Build for a variant and returns the objects it wants to exist.
func buildAll(t *testing.T, in Inputs) []child {
	t.Helper()
	objs, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	var out []child
	for _, o := range objs.Apply {
		out = append(out, o)
	}
	return out
}

func TestEveryChildIsOwnedLabelledAndPlaced(t *testing.T) {
	for _, variant := range allVariants {
		t.Run(variant, func(t *testing.T) {
			in := inputs(variant)
			lake := in.Lake
			for _, o := range buildAll(t, in) {
				gvk := o.GetObjectKind().GroupVersionKind()
				what := gvk.Kind + " " + o.GetName()
				if gvk.Version == "" || gvk.Kind == "" {
					t.Errorf("%s has no apiVersion/kind, which server-side apply needs", what)
				}
				if o.GetNamespace() != lake.Namespace {
					t.Errorf("%s is in namespace %q, want %q", what, o.GetNamespace(), lake.Namespace)
				}
				checkLabels(t, what, o.GetLabels(), lake)
				for k := range o.GetAnnotations() {
					if _, copied := lake.Annotations[k]; copied {
						t.Errorf("%s has the TelemetryLake's annotation %s", what, k)
					}
				}

				refs := o.GetOwnerReferences()
				if pvcRetained := gvk.Kind == "PersistentVolumeClaim" && in.deletionPolicy() == v1alpha1.DeletionRetain; pvcRetained {
					if len(refs) != 0 {
						t.Errorf("%s is owned under Retain, so the garbage collector would delete the data: %v", what, refs)
					}
					continue
				}
				want := metav1.OwnerReference{
					APIVersion: "lake.telemetrylake.io/v1alpha1", Kind: "TelemetryLake", Name: lake.Name, UID: lake.UID,
					Controller: ptrTrue(), BlockOwnerDeletion: ptrTrue(),
				}
				if len(refs) != 1 || !equality.Semantic.DeepEqual(refs[0], want) {
					t.Errorf("%s ownerReferences = %+v, want only %+v", what, refs, want)
				}
			}
		})
	}
}

func checkLabels(t *testing.T, what string, got map[string]string, lake *v1alpha1.TelemetryLake) {
	t.Helper()
	for k, v := range map[string]string{
		wellknown.LabelName:      wellknown.AppName,
		wellknown.LabelInstance:  lake.Name,
		wellknown.LabelManagedBy: wellknown.ManagedBy,
	} {
		if got[k] != v {
			t.Errorf("%s label %s = %q, want %q", what, k, got[k], v)
		}
	}
	if got[wellknown.LabelComponent] == "" {
		t.Errorf("%s has no %s label", what, wellknown.LabelComponent)
	}
	if len(got) != 4 {
		t.Errorf("%s labels = %v, want exactly the four app.kubernetes.io ones", what, got)
	}
	for k := range lake.Labels {
		if _, copied := got[k]; copied {
			t.Errorf("%s has the TelemetryLake's label %s", what, k)
		}
	}
}

func ptrTrue() *bool { b := true; return &b }

// Builders read the lake and never write it, and what they return shares no memory with it: the
// controller may then change a built object without touching the spec it was built from.
func TestBuildersLeaveTheirInputsAlone(t *testing.T) {
	for _, variant := range allVariants {
		t.Run(variant, func(t *testing.T) {
			in := inputs(variant)
			before := in.Lake.DeepCopy()
			classBefore := in.Class.DeepCopy()
			objs := buildAll(t, in)
			if !equality.Semantic.DeepEqual(in.Lake, before) || !equality.Semantic.DeepEqual(in.Class, classBefore) {
				t.Fatal("building changed the TelemetryLake or its class")
			}
			for _, o := range objs {
				scribble(reflect.ValueOf(o))
			}
			if !equality.Semantic.DeepEqual(in.Lake, before) {
				t.Error("changing a built object changed the TelemetryLake: a builder shares memory with it")
			}
		})
	}
}

// scribble overwrites every string, and every map entry, reachable from v.
func scribble(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			scribble(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				scribble(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			for i := range v.Len() {
				v.Index(i).SetUint(0)
			}
			return
		}
		for i := range v.Len() {
			scribble(v.Index(i))
		}
	case reflect.Map:
		if v.IsNil() || v.Type().Key().Kind() != reflect.String {
			return
		}
		for _, k := range v.MapKeys() {
			if v.Type().Elem().Kind() == reflect.String {
				v.SetMapIndex(k, reflect.ValueOf("scribbled").Convert(v.Type().Elem()))
			}
		}
		v.SetMapIndex(reflect.ValueOf("scribbled").Convert(v.Type().Key()), reflect.Zero(v.Type().Elem()))
	case reflect.String:
		if v.CanSet() {
			v.SetString("scribbled")
		}
	}
}
