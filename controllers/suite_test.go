package controllers

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/controllers/kafkaadmin"
	"qaas.dev/qaas/internal/embeddedkafka"
)

// The envtest suite: a real kube-apiserver and etcd (built by
// hack/envtest/build.sh; `make test` points KUBEBUILDER_ASSETS at them),
// the CRDs from config/crd, and the reconciler running in a manager.
var (
	testEnv    *envtest.Environment
	restConfig *rest.Config
	k8s        client.Client // reads straight from the API server, no cache
	reconciler *QueueAppReconciler
	// broker is the suite's Kafka: kfake with SASL/SCRAM and ACLs on; the
	// reconciler provisions tenants in it as its superuser.
	broker        *embeddedkafka.Broker
	brokerDataDir string
	// brokerAdminPassword stays the same across restarts; the manager's
	// goroutines read it while tests replace broker.
	brokerAdminPassword = rand.Text()
	// managerSettings refuses gateway images of the tenants' own, so that
	// one is a spec the operator cannot act on.
	managerSettings Settings
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run the tests with `make test`, which builds kube-apiserver and etcd once and points it at them")
		return 1
	}
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true), zap.Level(zapLevel())))
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	if restConfig, err = testEnv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	defer func() {
		if err := testEnv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()

	var stopBroker func()
	if stopBroker, err = startSuiteBroker(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stopBroker()
	managerSettings = testSettings
	managerSettings.AllowImageOverride = false
	managerSettings.RequireIngressAddress = true
	managerSettings.Kafka.Brokers = []string{broker.Addr}
	conn, err := managerSettings.Kafka.Connect()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	provisioner, err := kafkaadmin.New(kafkaadmin.Config{
		Kafka:                    conn,
		DefaultReplicationFactor: -1,
		AdminCredentials: func(context.Context) (string, string, error) {
			return embeddedkafka.AdminUser, brokerAdminPassword, nil
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(queuev1alpha1.AddToScheme(scheme))
	if k8s, err = client.New(restConfig, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  CacheOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	reconciler = &QueueAppReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Scheme:    mgr.GetScheme(),
		Recorder:  mgr.GetEventRecorder("qaas-operator"),
		Settings:  managerSettings,
		Kafka:     provisioner,
		// Recovery from a Kafka outage is noticed within seconds.
		MaxRetryDelay: 2 * time.Second,
	}
	if err := reconciler.SetupWithManager(mgr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	code := m.Run()
	cancel()
	<-stopped
	return code
}

// startSuiteBroker starts the suite's broker, with its state on disk so
// that a test can stop it and start it again.
func startSuiteBroker() (stop func(), err error) {
	if brokerDataDir, err = os.MkdirTemp("", "qaas-envtest-kafka-"); err != nil {
		return nil, err
	}
	if broker, err = embeddedkafka.StartBroker(embeddedkafka.BrokerOptions{DataDir: brokerDataDir, AdminPassword: brokerAdminPassword}); err != nil {
		return nil, err
	}
	return func() {
		broker.Close()
		_ = os.RemoveAll(brokerDataDir)
	}, nil
}

// restartBroker starts the stopped suite broker again on its port.
func restartBroker(t *testing.T) {
	t.Helper()
	_, port, _ := net.SplitHostPort(broker.Addr)
	n, _ := strconv.Atoi(port)
	b, err := embeddedkafka.StartBroker(embeddedkafka.BrokerOptions{Port: n, DataDir: brokerDataDir, AdminPassword: brokerAdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	broker = b
}

// zapLevel keeps the manager quiet unless QAAS_TEST_VERBOSE is set.
func zapLevel() zapcore.Level {
	if os.Getenv("QAAS_TEST_VERBOSE") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}

// newNamespace gives a test a namespace of its own.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "team-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// eventually retries check until it returns nil or timeout passes.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
