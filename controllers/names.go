package controllers

import (
	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
)

// Names of a QueueApp's children and of its Kafka resources, all derived
// from the QueueApp so that reconciling is deterministic.

// KafkaPrefix is the prefix of every Kafka topic, user and group of app.
// Neither a namespace nor a DNS label holds a dot, so no two applications'
// prefixes overlap.
func KafkaPrefix(app *queuev1alpha1.QueueApp) string {
	return app.Namespace + "." + app.Name + "."
}

// KafkaTopicName is the Kafka name of one of app's topics.
func KafkaTopicName(app *queuev1alpha1.QueueApp, topic string) string {
	return KafkaPrefix(app) + topic
}

// KafkaUserName is the Kafka (and HTTP) username of one of app's users.
func KafkaUserName(app *queuev1alpha1.QueueApp, user string) string {
	return KafkaPrefix(app) + user
}

// CredentialsSecretName is the Secret with the users' passwords.
func CredentialsSecretName(app *queuev1alpha1.QueueApp) string { return app.Name + "-credentials" }

// GatewayName names the gateway's Deployment, Service and Ingress.
func GatewayName(app *queuev1alpha1.QueueApp) string { return app.Name + "-gateway" }

// SelfSignedTLSSecretName is the Secret holding the operator-generated
// certificate when no TLS source is given.
func SelfSignedTLSSecretName(app *queuev1alpha1.QueueApp) string { return app.Name + "-selfsigned-tls" }

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

// labels are put on every child, and select the gateway's pods.
func labels(app *queuev1alpha1.QueueApp) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       "qaas-gateway",
		"app.kubernetes.io/instance":   app.Name,
		"app.kubernetes.io/managed-by": "qaas-operator",
	}
}
