// Package v1alpha1 holds the queue.qaas.dev/v1alpha1 API: the QueueApp a
// tenant applies to get a queue endpoint.
// +kubebuilder:object:generate=true
// +groupName=queue.qaas.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "queue.qaas.dev", Version: "v1alpha1"}

	// SchemeBuilder adds this API's types to a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds this API's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion, &QueueApp{}, &QueueAppList{})
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
