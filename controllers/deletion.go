package controllers

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
)

const (
	// gatewayStopTimeout is how long a gateway pod may take to stop once it
	// is being deleted, well past its termination grace period: a pod
	// stopping longer (on a lost node, say) no longer holds up the
	// deletion.
	gatewayStopTimeout = 2 * time.Minute
	// gatewayStopPoll is how often a deletion looks at the stopping pods.
	gatewayStopPoll = 2 * time.Second
)

// finalize takes the tenant down in order, then releases the QueueApp:
//
//  1. the gateway stops: while its pods run they use the tenant's Kafka
//     users, and a gateway whose user is already gone can neither commit
//     nor leave its consumer groups, which then hold dead members that
//     stall the groups of a QueueApp re-created with the same name;
//  2. the users and ACLs leave Kafka, and with deletionPolicy Delete the
//     topics and consumer groups too (Retain keeps both: the data and how
//     far each group read it, so a re-created QueueApp carries on).
//
// If Kafka cannot be cleaned, the QueueApp stays, and says why.
func (r *QueueAppReconciler) finalize(ctx context.Context, app, before *queuev1alpha1.QueueApp) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(app, Finalizer) {
		return ctrl.Result{}, nil
	}
	running, err := r.stopGateway(ctx, app, time.Now())
	if err != nil {
		return ctrl.Result{}, err
	}
	if running > 0 {
		msg := fmt.Sprintf("deleting: waiting for %d gateway pods to stop before the tenant is removed from Kafka", running)
		setCondition(app, queuev1alpha1.ConditionGatewayReady, false, "Stopping", msg)
		setCondition(app, queuev1alpha1.ConditionReady, false, "Deleting", msg)
		return ctrl.Result{RequeueAfter: gatewayStopPoll}, r.patchStatus(ctx, before, app)
	}
	if r.Kafka != nil {
		var users []string
		for _, u := range usersOf(app) {
			users = append(users, app.KafkaUserName(u.Name))
		}
		if err := r.Kafka.Delete(ctx, app, users); err != nil {
			setCondition(app, queuev1alpha1.ConditionKafkaReady, false, "DeletionBlocked",
				"the QueueApp is kept until its Kafka users and ACLs are removed: "+err.Error())
			r.Recorder.Eventf(app, nil, corev1.EventTypeWarning, "DeletionBlocked", "Delete", "removing the tenant from Kafka: %v", err)
			if statusErr := r.patchStatus(ctx, before, app); statusErr != nil {
				logf.FromContext(ctx).Error(statusErr, "recording why deletion waits")
			}
			return ctrl.Result{}, err
		}
	}
	controllerutil.RemoveFinalizer(app, Finalizer)
	if err := r.Update(ctx, app); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, nil
}

// stopGateway deletes the gateway Deployment and returns how many of its
// pods still run, not counting pods that have been stopping for longer than
// gatewayStopTimeout at now. Pods are listed from the API server: the cache
// holds no pods, and a stale list would let Kafka go while a pod still runs.
func (r *QueueAppReconciler) stopGateway(ctx context.Context, app *queuev1alpha1.QueueApp, now time.Time) (int, error) {
	dep := &appsv1.Deployment{}
	err := r.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: GatewayName(app)}, dep)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return 0, err
	case metav1.IsControlledBy(dep, app) && dep.DeletionTimestamp.IsZero():
		if err := r.Delete(ctx, dep, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return 0, fmt.Errorf("deleting the gateway Deployment: %w", err)
		}
	}
	pods := &corev1.PodList{}
	if err := r.APIReader.List(ctx, pods, client.InNamespace(app.Namespace), client.MatchingLabels(childLabels(app))); err != nil {
		return 0, fmt.Errorf("listing the gateway pods: %w", err)
	}
	running := 0
	for _, p := range pods.Items {
		switch {
		case p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed:
		case p.DeletionTimestamp != nil && now.Sub(p.DeletionTimestamp.Time) > gatewayStopTimeout:
			logf.FromContext(ctx).Info("a gateway pod has been stopping for too long; not waiting for it", "pod", p.Name,
				"since", p.DeletionTimestamp.Time)
		default:
			running++
		}
	}
	return running, nil
}
