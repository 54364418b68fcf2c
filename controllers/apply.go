package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
// does not set are left alone, and an unchanged object is not written. An
// object of the same name that app does not control is left alone.
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
	if err := r.checkNotForeign(ctx, app, gvk, obj); err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: fields}
	err = r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), fieldOwner, client.ForceOwnership)
	if apierrors.IsInvalid(err) && gvk.Kind == "Service" {
		// A port renumbered by hand stays after the apply, since ports
		// are keyed by number, and its name then clashes with the
		// operator's port. The Service goes; the next pass recreates it.
		logf.FromContext(ctx).Info("recreating a Service whose edits clash with the operator's", "name", obj.GetName(), "error", err.Error())
		r.Recorder.Eventf(app, nil, corev1.EventTypeNormal, "Recreating", "Reconcile", "recreating Service %s: its edits clash with the operator's", obj.GetName())
		if delErr := r.Delete(ctx, obj); client.IgnoreNotFound(delErr) != nil {
			return fmt.Errorf("deleting Service %s to recreate it: %w", obj.GetName(), delErr)
		}
	}
	if err != nil {
		return fmt.Errorf("applying %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	return nil
}

// checkNotForeign refuses to take over an object of the child's name that
// this QueueApp does not control, such as a Secret a user made.
func (r *QueueAppReconciler) checkNotForeign(ctx context.Context, app *queuev1alpha1.QueueApp, gvk schema.GroupVersionKind, obj client.Object) error {
	current := &metav1.PartialObjectMetadata{}
	current.SetGroupVersionKind(gvk)
	err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(obj), current)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return err
	case !metav1.IsControlledBy(current, app):
		return &nameConflictError{kind: gvk.Kind, name: obj.GetName()}
	}
	return nil
}

// nameConflictError is a child's name taken by an object that is not the
// QueueApp's.
type nameConflictError struct{ kind, name string }

func (e *nameConflictError) Error() string {
	return fmt.Sprintf("%s %s already exists and does not belong to this QueueApp: rename or remove it", e.kind, e.name)
}
