package controllers

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// applier is the operator's one write path for child objects: server-side apply under one field
// owner. It skips the write when the live object already holds everything desired, so that a
// steady state costs the API server no writes at all, and it restores any field a person edits
// away.
type applier struct {
	client client.Client
	scheme *runtime.Scheme
	// reader reads past the cache, for an object whose cached copy predates the operator's own
	// last write of it (writes).
	reader client.Reader
	writes *ownWrites
}

// apply makes the live object hold desired. It returns the object as it stands afterwards (typed,
// as desired is) and whether it wrote.
func (a *applier) apply(ctx context.Context, desired client.Object) (client.Object, bool, error) {
	gvk, err := gvkOf(desired, a.scheme)
	if err != nil {
		return nil, false, err
	}
	want, err := applyConfiguration(desired)
	if err != nil {
		return nil, false, err
	}
	// The typed read is served from the informer cache; an unstructured one would go to the API
	// server on every reconcile. Past the cache only when the cache has not yet seen this
	// operator's own last write of the object.
	live, err := a.read(ctx, gvk, desired)
	switch {
	case err == nil:
		diff, err := unappliedField(want, live, gvk)
		if err != nil {
			return nil, false, err
		}
		if diff == "" {
			return live, false, nil
		}
		log.FromContext(ctx).V(1).Info("child differs from its desired state", "kind", gvk.Kind, "name", desired.GetName(), "at", diff)
	case !apierrors.IsNotFound(err):
		return nil, false, fmt.Errorf("read %s %s: %w", gvk.Kind, desired.GetName(), err)
	}
	obj := &unstructured.Unstructured{Object: want}
	obj.SetGroupVersionKind(gvk)
	if err := a.client.Patch(ctx, obj, client.Apply, client.FieldOwner(wellknown.FieldOwner), client.ForceOwnership); err != nil {
		return nil, false, fmt.Errorf("apply %s %s: %w", gvk.Kind, desired.GetName(), err)
	}
	a.writes.record(keyOf(gvk, desired), obj.GetResourceVersion())
	// The API server's answer is the object as it now stands: a reconcile reports the Deployment
	// from it instead of reading it again (6 GETs a lake while onboarding, make bench-operator).
	applied, err := a.scheme.New(gvk)
	if err != nil {
		return nil, false, err
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, applied); err != nil {
		return nil, false, fmt.Errorf("decoding the applied %s %s: %w", gvk.Kind, desired.GetName(), err)
	}
	return applied.(client.Object), true, nil
}

// read reads the live object of desired's kind and name from the cache, or past it when the
// cache's copy (or its absence) predates this operator's last write of it.
func (a *applier) read(ctx context.Context, gvk schema.GroupVersionKind, desired client.Object) (client.Object, error) {
	typed, err := a.scheme.New(gvk)
	if err != nil {
		return nil, err
	}
	live := typed.(client.Object)
	key := client.ObjectKeyFromObject(desired)
	err = a.client.Get(ctx, key, live)
	if (err == nil || apierrors.IsNotFound(err)) && a.writes.cacheBehind(keyOf(gvk, desired), live.GetResourceVersion(), err == nil) {
		typed, _ := a.scheme.New(gvk)
		live = typed.(client.Object)
		err = a.reader.Get(ctx, key, live)
	}
	return live, err
}

// remove deletes an object the spec no longer asks for (a PDB once replicas drop to 1, say).
func (a *applier) remove(ctx context.Context, obj client.Object) (bool, error) {
	if gvk, err := gvkOf(obj, a.scheme); err == nil {
		a.writes.forget(keyOf(gvk, obj))
	}
	if err := a.client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	if err := a.client.Delete(ctx, obj); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return true, nil
}

func gvkOf(obj client.Object, scheme *runtime.Scheme) (gvk schema.GroupVersionKind, err error) {
	gvk = obj.GetObjectKind().GroupVersionKind()
	if gvk.Kind != "" {
		return gvk, nil
	}
	kinds, _, err := scheme.ObjectKinds(obj)
	if err != nil || len(kinds) == 0 {
		return gvk, fmt.Errorf("no kind registered for %T: %w", obj, err)
	}
	return kinds[0], nil
}

// applyConfiguration is what an apply of desired sends: the object as a map, pruned.
func applyConfiguration(desired client.Object) (map[string]any, error) {
	want, err := runtime.DefaultUnstructuredConverter.ToUnstructured(desired)
	if err != nil {
		return nil, err
	}
	pruneForApply(want)
	return want, nil
}

// unappliedField decides whether an apply is needed: it names the first field of want that live
// does not hold, or is "" when applying want would change nothing.
func unappliedField(want map[string]any, live client.Object, gvk schema.GroupVersionKind) (string, error) {
	// Typed reads leave TypeMeta empty; the desired object always has it.
	live.GetObjectKind().SetGroupVersionKind(gvk)
	liveMap, err := runtime.DefaultUnstructuredConverter.ToUnstructured(live)
	if err != nil {
		return "", err
	}
	return firstDifference(want, liveMap, ""), nil
}

// pruneForApply drops what an apply must not send: status, and the empty values that typed
// objects carry without meaning them (a null creationTimestamp, an empty strategy).
func pruneForApply(obj map[string]any) {
	delete(obj, "status")
	if meta, ok := obj["metadata"].(map[string]any); ok {
		delete(meta, "creationTimestamp")
	}
	pruneEmpty(obj)
}

func pruneEmpty(m map[string]any) {
	for k, v := range m {
		switch x := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			pruneEmpty(x)
			if len(x) == 0 {
				delete(m, k)
			}
		case []any:
			for _, e := range x {
				if em, ok := e.(map[string]any); ok {
					pruneEmpty(em)
				}
			}
		}
	}
}

// firstDifference names the first path at which live does not hold want, for logs and tests.
func firstDifference(want, live any, path string) string {
	switch w := want.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return path
		}
		for k, wv := range w {
			if d := firstDifference(wv, l[k], path+"."+k); d != "" {
				return d
			}
		}
		return ""
	case []any:
		l, ok := live.([]any)
		if !ok || len(l) != len(w) {
			return fmt.Sprintf("%s (want %d items)", path, len(w))
		}
		for i := range w {
			if d := firstDifference(w[i], l[i], fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	}
	if !subset(want, live) {
		return fmt.Sprintf("%s (want %v, have %v)", path, want, live)
	}
	return ""
}

// subset says whether live holds every value of want. Lists must match element by element, since
// a list the operator sets (containers, ports, volumes) is owned whole; maps may hold more, as
// the API server adds defaults.
func subset(want, live any) bool {
	switch w := want.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			lv, ok := l[k]
			if !ok || !subset(wv, lv) {
				return false
			}
		}
		return true
	case []any:
		l, ok := live.([]any)
		if !ok || len(l) != len(w) {
			return false
		}
		for i := range w {
			if !subset(w[i], l[i]) {
				return false
			}
		}
		return true
	case string:
		l, ok := live.(string)
		return ok && (l == w || sameQuantity(w, l))
	default:
		return reflect.DeepEqual(normalizeNumber(want), normalizeNumber(live))
	}
}

// normalizeNumber compares JSON numbers by value: the converter gives int64 on one side and the
// decoder may give float64 or int64 on the other.
func normalizeNumber(v any) any {
	switch n := v.(type) {
	case int:
		return float64(n)
	case int32:
		return float64(n)
	case int64:
		return float64(n)
	}
	return v
}

// sameQuantity treats resource quantities the API server canonicalizes ("1000m" becomes "1") as
// equal, so they do not cause a write on every reconcile.
func sameQuantity(want, live string) bool {
	if want == "" || live == "" || !strings.ContainsAny(want[:1], "0123456789.") {
		return false
	}
	w, err1 := resource.ParseQuantity(want)
	l, err2 := resource.ParseQuantity(live)
	return err1 == nil && err2 == nil && w.Cmp(l) == 0
}
