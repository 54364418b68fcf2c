package controllers

import (
	"fmt"
	"strings"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
)

// checkPolicy refuses what a tenant may ask for only when the platform
// allows it: a host outside the namespace's own subdomain (it could take
// another tenant's host, and its clients' passwords) and an image of its
// own for the gateway (it would see every password).
func checkPolicy(app *queuev1alpha1.QueueApp, settings Settings, host string) error {
	if app.Spec.Ingress.Host != "" && !settings.AllowCustomHosts {
		if settings.IngressDomain == "" {
			return fmt.Errorf("spec.ingress.host %s is refused: the operator gives no custom hosts (--allow-custom-hosts)", host)
		}
		own := app.Namespace + "." + settings.IngressDomain
		if !strings.HasSuffix(host, "."+own) {
			return fmt.Errorf("spec.ingress.host %s is refused: hosts must be within %s (or leave it empty for %s)", host, own, app.Name+"."+own)
		}
	}
	if app.Spec.Gateway.Image != "" && !settings.AllowImageOverride {
		return fmt.Errorf("spec.gateway.image is refused: the operator runs the gateway's own image (--allow-image-override)")
	}
	return nil
}
