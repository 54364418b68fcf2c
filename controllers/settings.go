package controllers

import "qaas.dev/qaas/internal/kafkaconn"

// Settings are the platform's choices, set by the operator's flags: they
// apply to every QueueApp and are not tenant input.
type Settings struct {
	// GatewayImage runs the gateway unless a QueueApp names another.
	GatewayImage string
	// IngressDomain makes default hosts "<app>.<namespace>.<domain>".
	IngressDomain string
	// IngressClassName is used unless a QueueApp names another.
	IngressClassName string
	// DefaultIssuer, when its Name is set, issues certificates for
	// QueueApps that name no TLS source.
	DefaultIssuer Issuer
	// AllowCustomHosts lets QueueApps use hosts outside their namespace's
	// subdomain of IngressDomain.
	AllowCustomHosts bool
	// AllowImageOverride lets QueueApps run a gateway image of their own.
	AllowImageOverride bool
	// RequireIngressAddress makes Ready wait until the Ingress controller
	// publishes an address in the Ingress's status; off for controllers
	// that publish none.
	RequireIngressAddress bool

	// Kafka is how the operator and the gateways reach Kafka.
	Kafka KafkaConnection
}

// Issuer is a cert-manager issuer.
type Issuer struct {
	Kind string
	Name string
}

// KafkaConnection is how the operator and the gateways reach the
// platform's Kafka: the operator's --kafka-* flags, which its gateways get
// too, with the CA from the operator's CA file.
type KafkaConnection struct {
	kafkaconn.Settings
	// CAPEM, when set, is the CA bundle that signs the brokers'
	// certificates; it is copied into each credentials Secret so that
	// gateways in tenant namespaces can read it.
	CAPEM []byte
}
