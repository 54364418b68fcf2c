package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
)

// fieldOwner is the operator's name in server-side apply.
const fieldOwner = client.FieldOwner("qaas-operator")

// apply makes obj, owned by app, exist as built, with server-side apply:
// the fields the operator sets are put back when edited by hand, fields it
// does not set are left alone, and an unchanged object is not written.
func (r *QueueAppReconciler) apply(ctx context.Context, app *queuev1alpha1.QueueApp, obj client.Object) error {
	if err := controllerutil.SetControllerReference(app, obj, r.Scheme); err != nil {
		return err
	}
	gvk, err := apiutil.GVKForObject(obj, r.Scheme)
	if err != nil {
		return err
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	fields, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	// Typed objects carry these as empty values; applying them would
	// claim fields the operator does not set.
	unstructured.RemoveNestedField(fields, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(fields, "status")
	u := &unstructured.Unstructured{Object: fields}
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), fieldOwner, client.ForceOwnership); err != nil {
		return fmt.Errorf("applying %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	return nil
}
