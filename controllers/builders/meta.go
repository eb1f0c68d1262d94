package builders

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// labels are the labels of every child of lake: what it is, whose it is, who manages it.
func labels(lake *v1alpha1.TelemetryLake, component string) map[string]string {
	return map[string]string{
		wellknown.LabelName:      wellknown.AppName,
		wellknown.LabelInstance:  lake.Name,
		wellknown.LabelManagedBy: wellknown.ManagedBy,
		wellknown.LabelComponent: component,
	}
}

// selectorLabels select the ingester pods of lake. A Deployment's selector is immutable, so this
// is the smallest set that identifies them and must never change.
func selectorLabels(lake *v1alpha1.TelemetryLake) map[string]string {
	return map[string]string{
		wellknown.LabelInstance:  lake.Name,
		wellknown.LabelComponent: wellknown.ComponentIngester,
	}
}

// ownerReference makes lake the controller of a child, so that the child is garbage-collected with
// it and its changes wake the controller. It is built from constants rather than lake.TypeMeta,
// which a typed client leaves empty.
func ownerReference(lake *v1alpha1.TelemetryLake) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion:         v1alpha1.GroupVersion.String(),
		Kind:               "TelemetryLake",
		Name:               lake.Name,
		UID:                lake.UID,
		Controller:         ptr.To(true),
		BlockOwnerDeletion: ptr.To(true),
	}
}

// objectMeta is the metadata of a child of lake named name.
func objectMeta(lake *v1alpha1.TelemetryLake, name, component string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            name,
		Namespace:       lake.Namespace,
		Labels:          labels(lake, component),
		OwnerReferences: []metav1.OwnerReference{ownerReference(lake)},
	}
}
