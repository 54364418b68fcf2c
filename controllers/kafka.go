package controllers

import (
	"context"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
)

// KafkaUser is one of a QueueApp's users as Kafka knows it.
type KafkaUser struct {
	// Name is the Kafka username, "<namespace>.<app>.<user>".
	Name     string
	Password string
	Role     queuev1alpha1.UserRole
}

// KafkaProvisioner makes Kafka hold a QueueApp's tenant: its topics, its
// users with their passwords, and ACLs confining them to its prefix. The
// reconciler calls it in every pass, and on delete before releasing the
// QueueApp.
type KafkaProvisioner interface {
	// Reconcile converges Kafka on app's spec. users carry the passwords
	// from the credentials Secret. It returns the Kafka names of the
	// topics that exist.
	Reconcile(ctx context.Context, app *queuev1alpha1.QueueApp, users []KafkaUser) (topics []string, err error)
	// Delete removes app's users and ACLs, and its topics when its
	// deletionPolicy is Delete.
	Delete(ctx context.Context, app *queuev1alpha1.QueueApp) error
}
