// Package v1alpha1 is the lake.telemetrylake.io/v1alpha1 API: TelemetryLake, which a tenant
// applies, and LakeStorageClass, which a platform admin owns.
// +kubebuilder:object:generate=true
// +groupName=lake.telemetrylake.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of these types.
	GroupVersion = schema.GroupVersion{Group: "lake.telemetrylake.io", Version: "v1alpha1"}

	// SchemeBuilder registers the types with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
