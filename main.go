// Command manager is the qaas operator: it reconciles QueueApps into Kafka
// tenants and per-tenant gateways.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"qaas.dev/qaas/controllers"
	"qaas.dev/qaas/internal/flagenv"
	"qaas.dev/qaas/internal/operator"
)

func main() {
	if err := run(ctrl.SetupSignalHandler(), os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}

// options are the manager's flags.
type options struct {
	operator.Options
	podName       string
	defaultIssuer string
	zap           zap.Options
}

func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 disables it")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.BoolVar(&o.LeaderElect, "leader-elect", false, "elect a leader, so that only one of several replicas reconciles")
	fs.StringVar(&o.Namespace, "operator-namespace", "", "the operator's own namespace, where the Kafka admin Secret is (set from the pod's namespace by the manifests)")

	s := &o.Settings
	fs.StringVar(&s.GatewayImage, "gateway-image", "", "image of the gateway pods unless a QueueApp names one; empty in a pod: the manager's own image (read from its pod, see --pod-name), which holds the gateway")
	fs.StringVar(&o.podName, "pod-name", "", "the manager's own pod (set from the pod's name by the manifests), whose image the gateways run when --gateway-image is empty")
	fs.StringVar(&s.IngressDomain, "ingress-domain", "", "default hosts are <app>.<namespace>.<ingress domain>")
	fs.StringVar(&s.IngressClassName, "ingress-class", "", "IngressClass of the gateways' Ingresses unless a QueueApp names one; empty uses the cluster's default class")
	fs.BoolVar(&s.AllowCustomHosts, "allow-custom-hosts", false, "let QueueApps use hosts outside <namespace>.<ingress domain>; off, a tenant cannot take another's host")
	fs.BoolVar(&s.AllowImageOverride, "allow-image-override", false, "let QueueApps run a gateway image of their own; off, no tenant image ever sees its users' passwords")
	fs.BoolVar(&s.RequireIngressAddress, "require-ingress-address", true, "Ready waits until the Ingress controller publishes an address in the Ingress's status; turn it off for controllers that publish none (Ready then means the gateway serves behind its Service)")
	fs.StringVar(&o.defaultIssuer, "default-issuer", "", "cert-manager issuer for QueueApps that name no TLS source, as ClusterIssuer/NAME or Issuer/NAME; without it such QueueApps get a self-signed certificate")

	// The gateways get the operator's Kafka settings, so one set of flags
	// configures both.
	s.Kafka.AddFlags(fs)
	fs.Lookup("kafka-brokers").Usage += "; the operator and every gateway connect to them"
	fs.Lookup("kafka-ca-file").Usage += "; copied into each tenant's credentials Secret for its gateway"
	fs.StringVar(&o.AdminSecret, "kafka-admin-secret", "", "Secret in the operator's namespace with keys username and password: the Kafka admin login used to provision tenants")
	fs.IntVar(&o.ReplicationFactor, "kafka-replication-factor", -1, "replication factor of topics whose QueueApp sets none; -1 leaves it to the brokers' default.replication.factor")
	o.zap.BindFlags(fs)
	return fs
}

func parseOptions(args []string, getenv func(string) string, out io.Writer) (*options, error) {
	o := &options{}
	fs := newFlagSet(o)
	if err := flagenv.Parse(fs, args, getenv, out, "Reconciles QueueApps into Kafka tenants and their HTTPS gateways. The cluster is the one of KUBECONFIG or, in a pod, of its service account."); err != nil {
		return nil, err
	}
	var errs []error
	if o.Settings.GatewayImage == "" && (o.podName == "" || o.Namespace == "") {
		errs = append(errs, errors.New("--gateway-image is required outside a pod; in a pod, --pod-name and --operator-namespace let the gateways run the manager's own image"))
	}
	if err := o.Settings.Kafka.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.defaultIssuer != "" {
		kind, name, ok := cutIssuer(o.defaultIssuer)
		if !ok {
			errs = append(errs, fmt.Errorf("--default-issuer %q is not ClusterIssuer/NAME or Issuer/NAME", o.defaultIssuer))
		}
		o.Settings.DefaultIssuer = controllers.Issuer{Kind: kind, Name: name}
	}
	if o.AdminSecret != "" && o.Namespace == "" {
		errs = append(errs, errors.New("--kafka-admin-secret needs --operator-namespace, where the Secret is"))
	}
	if o.Settings.Kafka.CAFile != "" {
		ca, err := os.ReadFile(o.Settings.Kafka.CAFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("--kafka-ca-file: %w", err))
		}
		o.Settings.Kafka.CAPEM = ca
	}
	return o, errors.Join(errs...)
}

func cutIssuer(v string) (kind, name string, ok bool) {
	for _, k := range []string{"ClusterIssuer", "Issuer"} {
		if n, found := strings.CutPrefix(v, k+"/"); found && n != "" {
			return k, n, true
		}
	}
	return "", "", false
}

// run starts the manager and blocks until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	o, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := zap.New(zap.UseFlagOptions(&o.zap), zap.WriteTo(stderr))
	ctrl.SetLogger(logger)
	// client-go logs through klog (leader election, events it could not
	// record): into the same log, in the same format.
	klog.SetLogger(logger)
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("finding the cluster: %w", err)
	}
	if o.Settings.GatewayImage == "" {
		if o.Settings.GatewayImage, err = operator.OwnImage(ctx, cfg, o.Namespace, o.podName); err != nil {
			return err
		}
	}
	ctrl.Log.WithName("setup").Info("gateways run this image unless a QueueApp names one", "image", o.Settings.GatewayImage)
	mgr, err := operator.NewManager(cfg, o.Options)
	if err != nil {
		return err
	}
	ctrl.Log.WithName("setup").Info("starting the manager")
	return mgr.Start(ctx)
}
