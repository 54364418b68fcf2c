// Package standin does, for an API server without them (envtest), what a
// cluster's kubelet and controllers do once a gateway runs: the Deployment
// controller reports the Deployment available, the EndpointSlice controller
// puts the pod behind the Service, the Ingress controller publishes its
// address. The demo, which runs the gateway itself, and the operator's
// tests use it.
package standin

import (
	"context"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ReportServing reports the gateway named name (its Deployment, Service and
// Ingress share the name) serving in namespace: its Deployment available
// with replicas ready, ready endpoints at podIP behind its Service, and
// ingressIP as its Ingress's address.
func ReportServing(ctx context.Context, c client.Client, namespace, name string, replicas int32, podIP, ingressIP string) error {
	key := client.ObjectKey{Namespace: namespace, Name: name}
	if err := ReportAvailable(ctx, c, key, replicas); err != nil {
		return err
	}
	if err := PutBehindService(ctx, c, key, replicas, podIP); err != nil {
		return err
	}
	return PublishAddress(ctx, c, key, ingressIP)
}

// Statuses are updated on the latest version: the operator may write its
// children meanwhile.

// ReportAvailable reports Deployment key available with replicas ready.
func ReportAvailable(ctx context.Context, c client.Client, key client.ObjectKey, replicas int32) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		dep := &appsv1.Deployment{}
		if err := c.Get(ctx, key, dep); err != nil {
			return err
		}
		now := metav1.Now()
		dep.Status = appsv1.DeploymentStatus{
			ObservedGeneration: dep.Generation, Replicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas, UpdatedReplicas: replicas,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue,
				Reason: "MinimumReplicasAvailable", Message: "stood in for the Deployment controller", LastUpdateTime: now, LastTransitionTime: now}},
		}
		return c.Status().Update(ctx, dep)
	})
	if err != nil {
		return fmt.Errorf("reporting Deployment %s available: %w", key, err)
	}
	return nil
}

// PutBehindService gives Service key replicas ready endpoints at ip, on
// the ports the Service targets, in an EndpointSlice that carries the
// Service's labels, as the EndpointSlice controller makes it.
func PutBehindService(ctx context.Context, c client.Client, key client.ObjectKey, replicas int32, ip string) error {
	svc := &corev1.Service{}
	if err := c.Get(ctx, key, svc); err != nil {
		return err
	}
	labels := maps.Clone(svc.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[discoveryv1.LabelServiceName] = key.Name
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: key.Name + "-standin", Namespace: key.Namespace, Labels: labels},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	// A named target port is the number of the pods' port of that name.
	dep := &appsv1.Deployment{}
	if err := c.Get(ctx, key, dep); err != nil {
		return err
	}
	for _, p := range svc.Spec.Ports {
		port := p.TargetPort.IntVal
		for _, ctr := range dep.Spec.Template.Spec.Containers {
			for _, cp := range ctr.Ports {
				if cp.Name == p.TargetPort.StrVal {
					port = cp.ContainerPort
				}
			}
		}
		slice.Ports = append(slice.Ports, discoveryv1.EndpointPort{Name: ptr.To(p.Name), Port: ptr.To(port), Protocol: ptr.To(p.Protocol)})
	}
	for range replicas {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	}
	if err := c.Create(ctx, slice); client.IgnoreAlreadyExists(err) != nil {
		return fmt.Errorf("putting the gateway behind Service %s: %w", key, err)
	}
	return nil
}

// PublishAddress publishes ip as Ingress key's address.
func PublishAddress(ctx context.Context, c client.Client, key client.ObjectKey, ip string) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ing := &networkingv1.Ingress{}
		if err := c.Get(ctx, key, ing); err != nil {
			return err
		}
		ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: ip}}
		return c.Status().Update(ctx, ing)
	})
	if err != nil {
		return fmt.Errorf("publishing Ingress %s's address: %w", key, err)
	}
	return nil
}
