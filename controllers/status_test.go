package controllers

import (
	"slices"
	"testing"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
)

// Ready folds in the Ingress's address only where the platform's Ingress
// controller publishes one, and the Kafka tenant only where the operator
// provisions it.
func TestReadyParts(t *testing.T) {
	tls, gateway, ingress, kafka := queuev1alpha1.ConditionTLSReady, queuev1alpha1.ConditionGatewayReady,
		queuev1alpha1.ConditionIngressReady, queuev1alpha1.ConditionKafkaReady
	cases := map[string]struct {
		withKafka, withIngressAddress bool
		want                          []string
	}{
		"everything":                          {true, true, []string{tls, gateway, ingress, kafka}},
		"a controller that publishes nothing": {true, false, []string{tls, gateway, kafka}},
		"no Kafka provisioning":               {false, true, []string{tls, gateway, ingress}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := readyParts(c.withKafka, c.withIngressAddress); !slices.Equal(got, c.want) {
				t.Fatalf("Ready waits for %v, want %v", got, c.want)
			}
		})
	}
}
