package controllers

import (
	"errors"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
)

// cert-manager's ingress-shim annotations.
const (
	certManagerIssuerAnnotation        = "cert-manager.io/issuer"
	certManagerClusterIssuerAnnotation = "cert-manager.io/cluster-issuer"
)

// errNoHost is a spec the operator cannot act on until it is edited.
var errNoHost = errors.New("spec.ingress.host is empty and the operator has no --ingress-domain to make a default host from: set spec.ingress.host")

// hostOf is the endpoint's host name.
func hostOf(app *queuev1alpha1.QueueApp, settings Settings) (string, error) {
	if app.Spec.Ingress.Host != "" {
		return app.Spec.Ingress.Host, nil
	}
	if settings.IngressDomain == "" {
		return "", errNoHost
	}
	return app.Name + "." + app.Namespace + "." + settings.IngressDomain, nil
}

// buildIngress returns the Ingress that serves host over TLS from src.
func buildIngress(app *queuev1alpha1.QueueApp, settings Settings, host string, src tlsSource) *networkingv1.Ingress {
	className := app.Spec.Ingress.ClassName
	if className == "" {
		className = settings.IngressClassName
	}
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: GatewayName(app), Namespace: app.Namespace, Labels: childLabels(app)},
		Spec: networkingv1.IngressSpec{
			TLS: []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: src.secretName}},
			Rules: []networkingv1.IngressRule{{
				Host: host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     "/",
						PathType: ptr.To(networkingv1.PathTypePrefix),
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: GatewayName(app), Port: networkingv1.ServiceBackendPort{Name: "http"},
						}},
					}},
				}},
			}},
		},
	}
	if className != "" {
		ing.Spec.IngressClassName = &className
	}
	annotations := streamingAnnotations(className)
	if src.reason == TLSFromCertManager {
		key := certManagerClusterIssuerAnnotation
		if src.issuer.Kind == "Issuer" {
			key = certManagerIssuerAnnotation
		}
		annotations[key] = src.issuer.Name
	}
	if len(annotations) > 0 {
		ing.Annotations = annotations
	}
	return ing
}

// streamingAnnotations are what the Ingress controller of className needs
// to pass consume streams (Server-Sent Events) through, for the classes
// the operator knows. Class nginx is ingress-nginx (kubernetes/ingress-nginx):
// it passes a response on as it comes by default, and honours the
// gateway's X-Accel-Buffering: no; proxy-buffering off keeps that so where
// the controller's ConfigMap turned buffering on. It ends a response whose
// upstream was silent for proxy-read-timeout (60 s by default), for every
// request of the Ingress: a stream writes a heartbeat at least every
// --stream-heartbeat (30 s at most), so 120 s, above twice the longest
// heartbeat, keeps streams open without holding a plain GET to a hung
// replica much longer than the default would. Traefik passes
// text/event-stream on as it comes and has no such timeout, so it needs
// none.
func streamingAnnotations(className string) map[string]string {
	annotations := map[string]string{}
	if className == "nginx" {
		annotations["nginx.ingress.kubernetes.io/proxy-buffering"] = "off"
		annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] = "120"
	}
	return annotations
}
