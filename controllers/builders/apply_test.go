package builders

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

// Goldens show what the builders return; a real kube-apiserver says whether it is valid. Every
// child of every variant is server-side applied as the operator's field owner, and applying it
// again must change nothing, or the controller would write on every reconcile.
//
// The first re-apply is not checked: kube-apiserver v1.37.2 writes a new PersistentVolumeClaim
// once more on its second apply, although nothing in it changes (only its resourceVersion), and
// not on later ones.
func TestChildrenApplyToARealAPIServer(t *testing.T) {
	api := harness.StartKubeAPIServer(t)
	dyn := dynamic.NewForConfigOrDie(api.Config)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(api.Config)))
	ctx := context.Background()

	for _, variant := range allVariants {
		t.Run(variant, func(t *testing.T) {
			in := inputs(variant)
			in.Lake.Namespace = "v-" + variant // each variant's children in a namespace of their own
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: in.Lake.Namespace}}
			if _, err := api.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			apply := func() map[string]string {
				versions := map[string]string{}
				for _, o := range buildAll(t, in) {
					gvk := o.GetObjectKind().GroupVersionKind()
					mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
					if err != nil {
						t.Fatal(err)
					}
					raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
					if err != nil {
						t.Fatal(err)
					}
					live, err := dyn.Resource(mapping.Resource).Namespace(o.GetNamespace()).Apply(ctx, o.GetName(),
						&unstructured.Unstructured{Object: raw}, metav1.ApplyOptions{FieldManager: wellknown.FieldOwner, Force: true})
					if err != nil {
						t.Errorf("the apiserver refuses %s %s: %v", gvk.Kind, o.GetName(), err)
						continue
					}
					versions[gvk.Kind+" "+o.GetName()] = live.GetResourceVersion()
				}
				return versions
			}
			apply()
			before, after := apply(), apply()
			for obj, v := range before {
				if after[obj] != v {
					t.Errorf("re-applying %s wrote to it (resourceVersion %s, then %s)", obj, v, after[obj])
				}
			}
		})
	}
}
