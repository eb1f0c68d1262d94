package builders

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// PersistentVolumeClaim is the filesystem provisioner's volume, <name>-data: ReadWriteOnce, sized
// and classed by the LakeStorageClass's filesystem settings. It is nil for the other provisioners.
//
// Under the Retain deletion policy it has no ownerReference: the garbage collector would otherwise
// delete it, and with it (under the usual reclaim policy) the tenant's data, as soon as the
// TelemetryLake is gone. It then outlives the lake, and the controller says where in its
// deletion event. Under Delete it is owned like every other child.
func PersistentVolumeClaim(in Inputs) (*corev1.PersistentVolumeClaim, error) {
	if !in.filesystem() {
		return nil, nil
	}
	lake := in.Lake
	fs := in.Class.Spec.Filesystem
	if fs == nil {
		fs = &v1alpha1.FilesystemSettings{}
	}
	sizeText := orDefault(fs.Size, defaultFilesystemSize)
	size, err := resource.ParseQuantity(sizeText)
	if err != nil {
		return nil, fmt.Errorf("LakeStorageClass %s: spec.filesystem.size %q is not a quantity such as 10Gi: %w", in.Class.Name, sizeText, err)
	}
	meta := objectMeta(lake, NamesFor(lake).DataVolumeClaim, wellknown.ComponentStorage)
	if in.deletionPolicy() == v1alpha1.DeletionRetain {
		meta.OwnerReferences = nil
	}
	pvc := &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: corev1.SchemeGroupVersion.String(), Kind: "PersistentVolumeClaim"},
		ObjectMeta: meta,
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: size},
			},
		},
	}
	if fs.StorageClassName != "" {
		pvc.Spec.StorageClassName = ptr.To(fs.StorageClassName)
	}
	return pvc, nil
}
