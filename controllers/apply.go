package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

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
	err = r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), fieldOwner, client.ForceOwnership)
	if apierrors.IsInvalid(err) {
		// A hand edit can make the applied object invalid once merged,
		// such as a Service port renumbered by hand: its list item is
		// keyed by number, so it stays, and its name clashes with the
		// operator's. The edited object goes; the next pass recreates it.
		logf.FromContext(ctx).Info("recreating a child whose edits clash with the operator's", "kind", gvk.Kind, "name", obj.GetName(), "error", err.Error())
		r.Recorder.Eventf(app, nil, "Normal", "Recreating", "Reconcile", "recreating %s %s: its edits clash with the operator's", gvk.Kind, obj.GetName())
		existing := &unstructured.Unstructured{}
		existing.SetGroupVersionKind(gvk)
		existing.SetNamespace(obj.GetNamespace())
		existing.SetName(obj.GetName())
		if delErr := r.Delete(ctx, existing); client.IgnoreNotFound(delErr) != nil {
			return fmt.Errorf("deleting %s %s to recreate it: %w", gvk.Kind, obj.GetName(), delErr)
		}
	}
	if err != nil {
		return fmt.Errorf("applying %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	return nil
}
