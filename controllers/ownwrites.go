package controllers

import (
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ownWrites remembers the resourceVersion of the operator's last write of each object (a child's
// apply, a lake's status or finalizer patch) until the informer cache has caught up with it.
// While it has not, a read from the cache is older than what the operator itself wrote: a
// reconcile would take a child it just created for missing and apply it again, take the
// Deployment's previous template for the current one and report it rolled out, or take a lake's
// previous status for the current one and write and announce the same change twice. Such a read
// goes past the cache instead (cacheBehind). Forgetting an entry is always safe: it only means
// trusting the cache again, as before this existed.
type ownWrites struct {
	mu sync.Mutex
	rv map[writeKey]string
}

type writeKey struct {
	gvk schema.GroupVersionKind
	key client.ObjectKey
}

func keyOf(gvk schema.GroupVersionKind, obj client.Object) writeKey {
	return writeKey{gvk: gvk, key: client.ObjectKeyFromObject(obj)}
}

// record notes that the operator wrote the object and the API server answered with rv.
func (w *ownWrites) record(k writeKey, rv string) {
	if rv == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.rv == nil {
		w.rv = map[writeKey]string{}
	}
	w.rv[k] = rv
}

// cacheBehind says whether the cache's copy of an object (cachedRV; found false when the cache
// has none) predates the operator's last write of it. A copy at or past that write ends the
// watch on it.
func (w *ownWrites) cacheBehind(k writeKey, cachedRV string, found bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	written, ok := w.rv[k]
	if !ok {
		return false
	}
	if found {
		cmp, err := resourceversion.CompareResourceVersion(cachedRV, written)
		if err != nil || cmp >= 0 {
			// Caught up (or not comparable, which only a non-etcd store would give: trust the cache).
			delete(w.rv, k)
			return false
		}
	}
	return true
}

// forget drops what is remembered of an object the operator deleted or will not write again.
func (w *ownWrites) forget(k writeKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.rv, k)
}

// forgetNamespace drops what is remembered of every object in a namespace, when its lake goes.
func (w *ownWrites) forgetNamespace(ns string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k := range w.rv {
		if k.key.Namespace == ns {
			delete(w.rv, k)
		}
	}
}
