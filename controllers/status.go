package controllers

import (
	"context"
	"strings"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
)

// setCondition records one condition at app's current generation.
func setCondition(app *queuev1alpha1.QueueApp, condType string, ok bool, reason, message string) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&app.Status.Conditions, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: app.Generation,
	})
}

func isTrue(app *queuev1alpha1.QueueApp, condType string) bool {
	return meta.IsStatusConditionTrue(app.Status.Conditions, condType)
}

// readyParts are the conditions Ready folds together: the certificate, the
// gateway (serving behind its Service), the Ingress's address unless the
// platform's Ingress controller publishes none, and the Kafka tenant when
// the operator provisions it.
func readyParts(withKafka, withIngressAddress bool) []string {
	parts := []string{queuev1alpha1.ConditionTLSReady, queuev1alpha1.ConditionGatewayReady}
	if withIngressAddress {
		parts = append(parts, queuev1alpha1.ConditionIngressReady)
	}
	if withKafka {
		parts = append(parts, queuev1alpha1.ConditionKafkaReady)
	}
	return parts
}

// setReady folds the other conditions into Ready: the endpoint is usable
// when all of readyParts are.
func setReady(app *queuev1alpha1.QueueApp, withKafka, withIngressAddress bool) {
	parts := readyParts(withKafka, withIngressAddress)
	var waiting []string
	for _, p := range parts {
		if !isTrue(app, p) {
			waiting = append(waiting, p)
		}
	}
	if len(waiting) == 0 {
		setCondition(app, queuev1alpha1.ConditionReady, true, "Ready", "the endpoint is ready at "+app.Status.URL)
		return
	}
	setCondition(app, queuev1alpha1.ConditionReady, false, "Waiting", "waiting for "+strings.Join(waiting, ", "))
}

// patchStatus writes app's status if it differs from before's.
func (r *QueueAppReconciler) patchStatus(ctx context.Context, before, app *queuev1alpha1.QueueApp) error {
	if apiequality.Semantic.DeepEqual(before.Status, app.Status) {
		return nil
	}
	return r.Status().Patch(ctx, app, client.MergeFrom(before))
}
