package controllers

import (
	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
)

// Names of a QueueApp's children, all derived from the QueueApp so that
// reconciling is deterministic. No suffix ends with "-" and another suffix,
// so two QueueApps' children never share a name ("a-selfsigned" + "-tls"
// is not "a" + a suffix). Its Kafka names are methods of the API type.

// CredentialsSecretName is the Secret with the users' passwords.
func CredentialsSecretName(app *queuev1alpha1.QueueApp) string { return app.Name + "-credentials" }

// GatewayName names the gateway's Deployment, Service and Ingress.
func GatewayName(app *queuev1alpha1.QueueApp) string { return app.Name + "-gateway" }

// SelfSignedTLSSecretName is the Secret holding the operator-generated
// certificate when no TLS source is given.
func SelfSignedTLSSecretName(app *queuev1alpha1.QueueApp) string { return app.Name + "-selfsigned" }

// IssuedTLSSecretName is where cert-manager puts the issued certificate.
func IssuedTLSSecretName(app *queuev1alpha1.QueueApp) string { return app.Name + "-tls" }

// defaultUsers applies when a QueueApp names no user.
var defaultUsers = []queuev1alpha1.UserSpec{{Name: "admin", Role: queuev1alpha1.RoleReadWrite}}

// usersOf returns app's users, or the default one.
func usersOf(app *queuev1alpha1.QueueApp) []queuev1alpha1.UserSpec {
	if len(app.Spec.Users) == 0 {
		return defaultUsers
	}
	return app.Spec.Users
}

// The labels that mark the operator's children, and the QueueApp each
// belongs to.
const (
	managedByLabel = "app.kubernetes.io/managed-by"
	managedBy      = "qaas-operator"
	instanceLabel  = "app.kubernetes.io/instance"
)

// childLabels are put on every child, and select the gateway's pods.
func childLabels(app *queuev1alpha1.QueueApp) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name": "qaas-gateway",
		instanceLabel:            app.Name,
		managedByLabel:           managedBy,
	}
}
