package controllers

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
)

// routeSettle is how long GatewayReady waits after the Deployment became
// available: Ingress controllers route to a Service's endpoints as they see
// them appear, as the operator does, and some publish the Ingress's address
// before that (Traefik skips a Service without endpoints but publishes the
// address anyway). Without the wait, Ready could win that race and a
// client's first request meet a 404.
const routeSettle = 3 * time.Second

// observeGateway sets GatewayReady: the Deployment is available, its
// Service has a ready endpoint, so a connection to the Service reaches a
// gateway, and routeSettle has passed since the Deployment became
// available. It returns when to look again while settling; EndpointSlice
// and Deployment changes are watched, so nothing else needs a poll.
func (r *QueueAppReconciler) observeGateway(ctx context.Context, app *queuev1alpha1.QueueApp) (time.Duration, error) {
	dep := &appsv1.Deployment{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: GatewayName(app)}, dep); err != nil {
		return 0, err
	}
	if dep.Status.ObservedGeneration < dep.Generation {
		setCondition(app, queuev1alpha1.ConditionGatewayReady, false, "Progressing", "the gateway Deployment is rolling out")
		return 0, nil
	}
	if ptr.Deref(dep.Spec.Replicas, 1) == 0 {
		setCondition(app, queuev1alpha1.ConditionGatewayReady, false, "ScaledToZero", "spec.gateway.replicas is 0: no gateway serves")
		return 0, nil
	}
	var available *appsv1.DeploymentCondition
	for i, c := range dep.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			available = &dep.Status.Conditions[i]
		}
	}
	switch {
	case available == nil:
		setCondition(app, queuev1alpha1.ConditionGatewayReady, false, "Progressing", "waiting for the gateway Deployment to report availability")
		return 0, nil
	case available.Status != corev1.ConditionTrue:
		setCondition(app, queuev1alpha1.ConditionGatewayReady, false, "Unavailable", available.Message)
		return 0, nil
	}
	serving, err := r.readyEndpoints(ctx, app)
	if err != nil {
		return 0, err
	}
	if serving == 0 {
		setCondition(app, queuev1alpha1.ConditionGatewayReady, false, "NoEndpoints",
			fmt.Sprintf("the gateway Deployment is available, but Service %s has no ready endpoint yet", GatewayName(app)))
		return 0, nil
	}
	if since := time.Since(available.LastTransitionTime.Time); since < routeSettle {
		setCondition(app, queuev1alpha1.ConditionGatewayReady, false, "Settling",
			fmt.Sprintf("the gateway pods serve behind Service %s; giving Ingress controllers %s to route to them", GatewayName(app), routeSettle))
		return routeSettle - since, nil
	}
	setCondition(app, queuev1alpha1.ConditionGatewayReady, true, "Available",
		fmt.Sprintf("%d of %d gateway pods ready, %d serving behind Service %s", dep.Status.ReadyReplicas, ptr.Deref(dep.Spec.Replicas, 1), serving, GatewayName(app)))
	return 0, nil
}

// readyEndpoints counts the ready endpoints of the gateway's Service. Its
// EndpointSlices carry the Service's labels, so the cache holds them (and
// only the operator's).
func (r *QueueAppReconciler) readyEndpoints(ctx context.Context, app *queuev1alpha1.QueueApp) (int, error) {
	slices := &discoveryv1.EndpointSliceList{}
	if err := r.List(ctx, slices, client.InNamespace(app.Namespace),
		client.MatchingLabels{discoveryv1.LabelServiceName: GatewayName(app)}); err != nil {
		return 0, fmt.Errorf("listing the gateway Service's endpoints: %w", err)
	}
	n := 0
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			// An unknown readiness is to be read as ready (the API's rule).
			if ptr.Deref(e.Conditions.Ready, true) {
				n++
			}
		}
	}
	return n, nil
}

// observeIngress sets IngressReady from the address the Ingress controller
// published in the Ingress's status. Ingress status changes are watched, so
// no polling is needed.
func (r *QueueAppReconciler) observeIngress(ctx context.Context, app *queuev1alpha1.QueueApp, host string) error {
	if !r.Settings.RequireIngressAddress {
		return nil
	}
	// From the API server: the cache may not hold an Ingress just created.
	ing := &networkingv1.Ingress{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: GatewayName(app)}, ing); err != nil {
		return err
	}
	for _, lb := range ing.Status.LoadBalancer.Ingress {
		if addr := lb.IP + lb.Hostname; addr != "" {
			setCondition(app, queuev1alpha1.ConditionIngressReady, true, "Admitted",
				fmt.Sprintf("the Ingress controller serves %s at %s", host, addr))
			return nil
		}
	}
	setCondition(app, queuev1alpha1.ConditionIngressReady, false, "NoAddress",
		fmt.Sprintf("waiting for the Ingress controller to publish an address for %s in Ingress %s's status", host, GatewayName(app)))
	return nil
}
