package controllers

import (
	"context"
	"fmt"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
)

// buildDisruptionBudget lets voluntary disruptions (node drains) stop one
// gateway pod at a time.
func buildDisruptionBudget(app *queuev1alpha1.QueueApp) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: GatewayName(app), Namespace: app.Namespace, Labels: childLabels(app)},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: childLabels(app)},
		},
	}
}

// reconcileDisruptionBudget keeps a PodDisruptionBudget while the gateway
// has more than one replica. With one, a budget of one unavailable pod
// would still let a drain stop it, and a budget of none would block
// drains, so there is none.
func (r *QueueAppReconciler) reconcileDisruptionBudget(ctx context.Context, app *queuev1alpha1.QueueApp) error {
	pdb := buildDisruptionBudget(app)
	if ptr.Deref(app.Spec.Gateway.Replicas, defaultReplicas) > 1 {
		return r.apply(ctx, app, pdb)
	}
	if err := r.Get(ctx, client.ObjectKeyFromObject(pdb), pdb); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(pdb, app) {
		return nil
	}
	if err := r.Delete(ctx, pdb); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting PodDisruptionBudget %s: %w", pdb.Name, err)
	}
	return nil
}
