package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/controllers"
	"qaas.dev/qaas/gateway/config"
	"qaas.dev/qaas/gateway/server"
	"qaas.dev/qaas/internal/embeddedkafka"
	"qaas.dev/qaas/internal/kafkaconn"
	"qaas.dev/qaas/internal/operator"
	"qaas.dev/qaas/internal/ovh"
	"qaas.dev/qaas/internal/standin"
)

const (
	// ingressDomain makes the sample's host my-app.team-a.localhost:
	// *.localhost is the loopback address, and curl knows it.
	ingressDomain = "localhost"
	operatorNS    = "qaas-system"
	adminSecret   = "kafka-admin"
)

// run brings the pieces up one after the other, prints the instructions,
// and tears everything down when ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	// The operator logs errors only: the demo prints what matters itself.
	ctrl.SetLogger(zap.New(zap.WriteTo(stderr), zap.Level(zapcore.ErrorLevel)))
	work, err := os.MkdirTemp("", "qaas-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	// 1. A control plane, with the QueueApp CRD.
	env := &envtest.Environment{
		BinaryAssetsDirectory: o.assetsDir,
		CRDDirectoryPaths:     []string{filepath.Join(o.repoDir, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	restConfig, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	defer func() { _ = env.Stop() }()
	kubeconfig, err := writeKubeconfig(env, work)
	if err != nil {
		return err
	}

	// 2. Kafka, with SASL/SCRAM and ACLs on, and its admin login in a
	// Secret of the operator's namespace, as a platform team sets it up.
	broker, err := embeddedkafka.StartBroker(embeddedkafka.BrokerOptions{AdminPassword: rand.Text()})
	if err != nil {
		return err
	}
	defer broker.Close()
	mgr, err := operator.NewManager(restConfig, operator.Options{
		Settings: controllers.Settings{
			GatewayImage:          "qaas:demo",
			IngressDomain:         ingressDomain,
			RequireIngressAddress: true,
			Kafka: controllers.KafkaConnection{Settings: kafkaconn.Settings{
				Brokers: []string{broker.Addr}, SASLMechanism: kafkaconn.ScramSHA512, Version: kafkaconn.DefaultVersion,
			}},
		},
		MetricsAddr:       "0",
		ProbeAddr:         "0",
		Namespace:         operatorNS,
		AdminSecret:       adminSecret,
		ReplicationFactor: -1,
	})
	if err != nil {
		return err
	}
	direct, err := client.New(restConfig, client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return err
	}
	sample, err := readSample(o.repoDir)
	if err != nil {
		return err
	}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNS}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: adminSecret, Namespace: operatorNS},
			Data: map[string][]byte{"username": []byte(embeddedkafka.AdminUser), "password": []byte(broker.AdminPassword)}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sample.Namespace}},
	} {
		if err := direct.Create(ctx, obj); err != nil {
			return err
		}
	}

	// 3. The operator.
	mgrCtx, stopManager := context.WithCancel(ctx)
	managerDone := make(chan error, 1)
	go func() { managerDone <- mgr.Start(mgrCtx) }()
	defer func() { stopManager(); <-managerDone }()

	// 4. The sample QueueApp, applied as a tenant would.
	if err := direct.Create(ctx, sample); err != nil {
		return fmt.Errorf("applying the sample QueueApp: %w", err)
	}
	if err := waitForKafka(ctx, direct, sample); err != nil {
		return err
	}

	// 5. Its gateway, run as its Deployment runs it, with the Ingress's
	// certificate.
	url, caFile, stopGateway, err := runGateway(ctx, direct, sample, o.listenAddress, work)
	if err != nil {
		return err
	}
	defer stopGateway() // first: it needs Kafka to commit what it handed out
	// The demo runs the gateway itself, on loopback: it stands in for the
	// cluster's kubelet and controllers in reporting it served. An
	// EndpointSlice cannot hold a loopback address, so the pod's is a
	// documentation one.
	if err := standin.ReportServing(ctx, direct, sample.Namespace, controllers.GatewayName(sample), 1, "192.0.2.10", "127.0.0.1"); err != nil {
		return err
	}
	creds := &corev1.Secret{}
	if err := direct.Get(ctx, client.ObjectKey{Namespace: sample.Namespace, Name: controllers.CredentialsSecretName(sample)}, creds); err != nil {
		return err
	}
	fmt.Fprintf(stdout, `qaas is running: a Kubernetes API server, Kafka (SASL/SCRAM, ACLs), the operator, and the
gateway of QueueApp %s/%s (config/samples). Try it from another shell:

export URL=%s
export SASL_USERNAME=%s
export SASL_PASSWORD=%s
export TOPIC=%s
export CURL_CA_BUNDLE=%s

%s
The control plane answers kubectl:

export KUBECONFIG=%s
%s get queueapps -A
%s -n %s get secret %s -o yaml

`, sample.Namespace, sample.Name, url, creds.Data["admin.username"], creds.Data["admin.password"], creds.Data["orders.topic"], caFile,
		ovh.Calls, kubeconfig, filepath.Join(o.assetsDir, "kubectl"), filepath.Join(o.assetsDir, "kubectl"), sample.Namespace, creds.Name)

	<-ctx.Done()
	return nil
}

func readSample(repoDir string) (*queuev1alpha1.QueueApp, error) {
	b, err := os.ReadFile(filepath.Join(repoDir, "config", "samples", "queue_v1alpha1_queueapp.yaml"))
	if err != nil {
		return nil, fmt.Errorf("reading the sample (run the demo from the repository): %w", err)
	}
	app := &queuev1alpha1.QueueApp{}
	return app, yaml.UnmarshalStrict(b, app)
}

func writeKubeconfig(env *envtest.Environment, dir string) (string, error) {
	user, err := env.AddUser(envtest.User{Name: "demo", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	b, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, os.WriteFile(path, b, 0o600)
}

func waitForKafka(ctx context.Context, c client.Client, app *queuev1alpha1.QueueApp) error {
	deadline := time.Now().Add(time.Minute)
	for {
		cur := &queuev1alpha1.QueueApp{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(app), cur); err != nil {
			return err
		}
		if meta.IsStatusConditionTrue(cur.Status.Conditions, queuev1alpha1.ConditionKafkaReady) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the operator did not provision the sample in Kafka: %+v", cur.Status.Conditions)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runGateway starts the sample's gateway with its Deployment's arguments,
// its credentials Secret as files, and the operator's certificate, serving
// HTTPS on listen. It returns the URL and the CA file for curl, and stop.
func runGateway(ctx context.Context, c client.Client, app *queuev1alpha1.QueueApp, listen, dir string) (url, caFile string, stop func(), err error) {
	dep := &appsv1.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: controllers.GatewayName(app)}, dep); err != nil {
		return "", "", nil, err
	}
	creds, cert := &corev1.Secret{}, &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: controllers.CredentialsSecretName(app)}, creds); err != nil {
		return "", "", nil, err
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: controllers.SelfSignedTLSSecretName(app)}, cert); err != nil {
		return "", "", nil, err
	}
	credsDir := filepath.Join(dir, "credentials")
	if err := os.Mkdir(credsDir, 0o700); err != nil {
		return "", "", nil, err
	}
	for k, v := range creds.Data {
		if err := os.WriteFile(filepath.Join(credsDir, k), v, 0o600); err != nil {
			return "", "", nil, err
		}
	}
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")
	for path, data := range map[string][]byte{certFile: cert.Data["tls.crt"], keyFile: cert.Data["tls.key"], caFile: creds.Data["ca.crt"]} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return "", "", nil, err
		}
	}
	args, err := controllers.LocalGatewayArgs(dep.Spec.Template.Spec.Containers[0].Args, credsDir, listen)
	if err != nil {
		return "", "", nil, err
	}
	args = append(args, "--tls-cert-file="+certFile, "--tls-key-file="+keyFile, "--log-level=warn")
	cfg, err := config.Parse(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		return "", "", nil, err
	}
	ls, err := server.Listen(cfg)
	if err != nil {
		return "", "", nil, err
	}
	gw, err := server.New(cfg, slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel})))
	if err != nil {
		ls.Close()
		return "", "", nil, err
	}
	serveCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := gw.Serve(serveCtx, ls); err != nil {
			slog.Error("gateway", "error", err)
		}
	}()
	_, port, _ := net.SplitHostPort(ls.API.Addr().String())
	host := strings.TrimPrefix(string(creds.Data["url"]), "https://")
	return "https://" + net.JoinHostPort(host, port), caFile, func() { cancel(); <-done }, nil
}
