package controllers

import (
	"context"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/controllers/kafkaadmin"
)

// KafkaProvisioner makes Kafka hold a QueueApp's tenant: its topics, its
// users with their passwords, and ACLs confining them to its prefix. The
// reconciler calls it in every pass, and on delete before releasing the
// QueueApp. kafkaadmin.Provisioner is the implementation.
type KafkaProvisioner interface {
	// Reconcile converges Kafka on app's spec; users carry the passwords
	// of the credentials Secret. It returns the Kafka names of the topics
	// that exist; a *kafkaadmin.SpecError says what Kafka refused.
	Reconcile(ctx context.Context, app *queuev1alpha1.QueueApp, users []kafkaadmin.User) (topics []string, err error)
	// Delete removes app's users (named as users, and any its ACLs name)
	// and ACLs, and its topics when its deletionPolicy is Delete.
	Delete(ctx context.Context, app *queuev1alpha1.QueueApp, users []string) error
}
