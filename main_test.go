package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/gateway/embedded"
	"qaas.dev/qaas/internal/flagenv"
)

func TestManagerOptions(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"QAAS_GATEWAY_IMAGE":      "registry.example.com/qaas:1.0",
		"QAAS_KAFKA_BROKERS":      "k0:9093,k1:9093",
		"QAAS_INGRESS_DOMAIN":     "queue.example.com",
		"QAAS_DEFAULT_ISSUER":     "ClusterIssuer/letsencrypt",
		"QAAS_KAFKA_CA_FILE":      ca,
		"QAAS_OPERATOR_NAMESPACE": "qaas-system",
	}
	o, err := parseOptions([]string{"--ingress-class", "nginx"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := o.Settings
	if s.GatewayImage != env["QAAS_GATEWAY_IMAGE"] || strings.Join(s.Kafka.Brokers, ",") != "k0:9093,k1:9093" ||
		s.IngressDomain != "queue.example.com" || s.IngressClassName != "nginx" || s.DefaultIssuer.Kind != "ClusterIssuer" ||
		s.DefaultIssuer.Name != "letsencrypt" || !s.Kafka.TLS || string(s.Kafka.CAPEM) != "PEM" || o.Namespace != "qaas-system" {
		t.Fatalf("settings %+v", s)
	}
}

func TestManagerOptionsExplainMistakes(t *testing.T) {
	cases := map[string]struct {
		args []string
		want string
	}{
		"nothing":         {nil, "--gateway-image is required"},
		"no brokers":      {[]string{"--gateway-image", "i"}, "--kafka-brokers is required"},
		"bad mechanism":   {[]string{"--gateway-image", "i", "--kafka-brokers", "k:9092", "--kafka-sasl-mechanism", "OAUTH"}, "OAUTH"},
		"bad issuer":      {[]string{"--gateway-image", "i", "--kafka-brokers", "k:9092", "--default-issuer", "letsencrypt"}, "ClusterIssuer/NAME"},
		"missing CA file": {[]string{"--gateway-image", "i", "--kafka-brokers", "k:9092", "--kafka-ca-file", "/nonexistent"}, "--kafka-ca-file"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := parseOptions(c.args, func(string) string { return "" }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestManagerHelpShowsEnvironmentTwins(t *testing.T) {
	var out strings.Builder
	_, err := parseOptions([]string{"--help"}, func(string) string { return "" }, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	newFlagSet(&options{}).VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out.String(), "--"+f.Name+"  ["+flagenv.Name(f.Name)+"]") {
			t.Errorf("--help lacks --%s [%s]", f.Name, flagenv.Name(f.Name))
		}
	})
}

// The manager, started as its Deployment starts it, serves its probes and
// reconciles a QueueApp into Kafka with the admin login of its Secret.
func TestManagerRunsAgainstAnAPIServerAndKafka(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests with `make test`")
	}
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	restConfig, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.AddUser(envtest.User{Name: "manager", Groups: []string{"system:masters"}}, restConfig)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfigPath := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfigPath)

	broker, err := embedded.StartBroker(embedded.BrokerOptions{AdminPassword: rand.Text()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(queuev1alpha1.AddToScheme(scheme))
	k8s, err := client.New(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "qaas-system"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "kafka-admin", Namespace: "qaas-system"},
			Data: map[string][]byte{"username": []byte(embedded.AdminUser), "password": []byte(broker.AdminPassword)}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}},
		&queuev1alpha1.QueueApp{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "team-a"},
			Spec: queuev1alpha1.QueueAppSpec{Topics: []queuev1alpha1.TopicSpec{{Name: "orders", Partitions: 2}}}},
	} {
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	probes, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	probeAddr := probes.Addr().String()
	probes.Close()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, []string{
			"--gateway-image=registry.example.com/qaas:test", "--kafka-brokers=" + broker.Addr,
			"--kafka-admin-secret=kafka-admin", "--operator-namespace=qaas-system", "--ingress-domain=queue.example.com",
			"--metrics-bind-address=0", "--health-probe-bind-address=" + probeAddr,
		}, func(string) string { return "" }, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		app := &queuev1alpha1.QueueApp{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "shop"}, app); err != nil {
			t.Fatal(err)
		}
		if meta.IsStatusConditionTrue(app.Status.Conditions, queuev1alpha1.ConditionKafkaReady) &&
			app.Status.URL == "https://shop.team-a.queue.example.com" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the manager did not provision the QueueApp: %+v", app.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	admin, err := broker.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	topics, err := admin.ListTopics()
	if err != nil || topics["team-a.shop.orders"].NumPartitions != 2 {
		t.Fatalf("topics %v (%v)", topics, err)
	}
	resp, err := http.Get("http://" + probeAddr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
	resp.Body.Close()
}
