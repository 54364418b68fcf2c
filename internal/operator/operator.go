// Package operator assembles the operator's manager: the QueueApp
// reconciler and, when an admin Secret is named, Kafka provisioning. The
// manager binary and the end-to-end demo both use it.
package operator

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/controllers"
	"qaas.dev/qaas/controllers/kafkaadmin"
)

// Options configure the manager.
type Options struct {
	Settings    controllers.Settings
	MetricsAddr string
	ProbeAddr   string
	LeaderElect bool
	// Namespace is the operator's own, where AdminSecret is.
	Namespace string
	// AdminSecret names a Secret with keys username and password: the
	// Kafka admin login that provisions tenants. Empty: no provisioning.
	AdminSecret       string
	ReplicationFactor int
}

// NewManager returns a manager running the QueueApp reconciler, with
// health and readiness checks; Start runs it.
func NewManager(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(queuev1alpha1.AddToScheme(scheme))
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   controllers.CacheOptions(),
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        "qaas-operator.queue.qaas.dev",
		LeaderElectionNamespace: o.Namespace,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	reconciler := &controllers.QueueAppReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Scheme:    mgr.GetScheme(),
		Recorder:  mgr.GetEventRecorder("qaas-operator"),
		Settings:  o.Settings,
	}
	if o.AdminSecret == "" {
		ctrl.Log.WithName("setup").Info("no Kafka admin Secret: Kafka provisioning is off, tenants' topics, users and ACLs must exist already")
	} else {
		provisioner, err := newProvisioner(o, mgr.GetAPIReader())
		if err != nil {
			return nil, err
		}
		reconciler.Kafka = provisioner
	}
	if err := reconciler.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the QueueApp controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}

// newProvisioner provisions tenants as the admin of o.AdminSecret, read
// afresh for every connection.
func newProvisioner(o Options, reader client.Reader) (*kafkaadmin.Provisioner, error) {
	conn, err := o.Settings.Kafka.Connect()
	if err != nil {
		return nil, err
	}
	cfg := kafkaadmin.Config{
		Kafka:                    conn,
		DefaultReplicationFactor: int16(o.ReplicationFactor),
		AdminCredentials: func(ctx context.Context) (string, string, error) {
			secret := &corev1.Secret{}
			key := client.ObjectKey{Namespace: o.Namespace, Name: o.AdminSecret}
			if err := reader.Get(ctx, key, secret); err != nil {
				return "", "", fmt.Errorf("reading the Kafka admin Secret %s: %w", key, err)
			}
			user, password := string(secret.Data["username"]), string(secret.Data["password"])
			if user == "" || password == "" {
				return "", "", fmt.Errorf("the Kafka admin Secret %s needs the keys username and password", key)
			}
			return user, password, nil
		},
	}
	return kafkaadmin.New(cfg)
}
