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
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/gateway/config"
	"qaas.dev/qaas/internal/embeddedkafka"
	"qaas.dev/qaas/internal/flagenv"
	"qaas.dev/qaas/internal/standin"
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
		"bad version":     {[]string{"--gateway-image", "i", "--kafka-brokers", "k:9092", "--kafka-version", "3.x"}, "--kafka-version"},
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

// The manager, started as its Deployment starts it — as its own service
// account, with the RBAC that config/default installs, electing a leader —
// serves its probes and takes a QueueApp through creation, an edit and
// deletion, in Kafka with the admin login of its Secret, and nothing it does
// is forbidden.
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
	// An administrator's login that acts as the manager's service account,
	// so the API server checks every request against the installed RBAC.
	user, err := env.AddUser(envtest.User{Name: "installer", Groups: []string{"system:masters"}}, restConfig)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kcfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range kcfg.AuthInfos {
		auth.Impersonate = "system:serviceaccount:qaas-system:qaas-controller-manager"
		auth.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:qaas-system", "system:authenticated"}
	}
	kubeconfigPath := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kcfg, kubeconfigPath); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfigPath)

	broker, err := embeddedkafka.StartBroker(embeddedkafka.BrokerOptions{AdminPassword: rand.Text()})
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
	managerPod := install(t, k8s)
	for _, obj := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "kafka-admin", Namespace: "qaas-system"},
			Data: map[string][]byte{"username": []byte(embeddedkafka.AdminUser), "password": []byte(broker.AdminPassword)}},
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
	// Not the gateway's default, so that only a gateway given the
	// manager's version speaks it.
	const kafkaVersion = "3.7.1"
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	var log syncBuffer
	go func() {
		done <- run(runCtx, []string{
			"--pod-name=" + managerPod.Name, "--kafka-brokers=" + broker.Addr,
			"--kafka-admin-secret=kafka-admin", "--operator-namespace=qaas-system", "--ingress-domain=queue.example.com",
			"--metrics-bind-address=0", "--health-probe-bind-address=" + probeAddr, "--leader-elect", "--kafka-version=" + kafkaVersion,
		}, func(string) string { return "" }, &log)
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("manager: %v", err)
			}
		}
	}
	t.Cleanup(stop)

	key := client.ObjectKey{Namespace: "team-a", Name: "shop"}
	waitFor := func(what string, ok func(*queuev1alpha1.QueueApp) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			app := &queuev1alpha1.QueueApp{}
			err := k8s.Get(ctx, key, app)
			if err != nil && !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
			if ok(app) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the QueueApp is %+v (%v)\nmanager log:\n%s", what, app.Status, err, log.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	admin, err := broker.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()

	waitFor("provisioned", func(app *queuev1alpha1.QueueApp) bool {
		return meta.IsStatusConditionTrue(app.Status.Conditions, queuev1alpha1.ConditionKafkaReady) &&
			app.Status.URL == "https://shop.team-a.queue.example.com"
	})
	topics, err := admin.ListTopics()
	if err != nil || topics["team-a.shop.orders"].NumPartitions != 2 {
		t.Fatalf("topics %v (%v)", topics, err)
	}
	// What the cluster's controllers would report once the gateway serves:
	// the manager sees it through its own cache and RBAC, and says Ready.
	if err := standin.ReportServing(ctx, k8s, "team-a", "shop-gateway", 2, "10.88.0.10", "192.0.2.80"); err != nil {
		t.Fatal(err)
	}
	waitFor("ready", func(app *queuev1alpha1.QueueApp) bool {
		return meta.IsStatusConditionTrue(app.Status.Conditions, queuev1alpha1.ConditionReady)
	})
	gateway := &appsv1.Deployment{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "shop-gateway"}, gateway); err != nil {
		t.Fatal(err)
	}
	if got, want := gateway.Spec.Template.Spec.Containers[0].Image, managerPod.Spec.Containers[0].Image; got != want || want == "" {
		t.Errorf("the gateways run %q, the manager %q: want the manager's own image", got, want)
	}
	gatewayArgs := gateway.Spec.Template.Spec.Containers[0].Args
	if cfg, err := config.Parse(gatewayArgs, func(string) string { return "" }, io.Discard); err != nil {
		t.Errorf("the gateway refuses its arguments %q: %v", gatewayArgs, err)
	} else if cfg.Kafka.Version != kafkaVersion || !slices.Equal(cfg.Kafka.Brokers, []string{broker.Addr}) {
		t.Errorf("the gateways reach Kafka with %+v, want the manager's brokers and version %s", cfg.Kafka, kafkaVersion)
	}
	resp, err := http.Get("http://" + probeAddr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	app := &queuev1alpha1.QueueApp{}
	if err := k8s.Get(ctx, key, app); err != nil {
		t.Fatal(err)
	}
	app.Spec.Topics = append(app.Spec.Topics, queuev1alpha1.TopicSpec{Name: "invoices", Partitions: 1})
	if err := k8s.Update(ctx, app); err != nil {
		t.Fatal(err)
	}
	waitFor("edited", func(app *queuev1alpha1.QueueApp) bool {
		return app.Status.ObservedGeneration == app.Generation && len(app.Status.Topics) == 2
	})

	if err := k8s.Delete(ctx, app); err != nil {
		t.Fatal(err)
	}
	waitFor("deleted", func(app *queuev1alpha1.QueueApp) bool { return app.Name == "" })
	users, err := admin.DescribeUserScramCredentials([]string{"team-a.shop.admin"})
	if err != nil || len(users) != 1 || len(users[0].CredentialInfos) != 0 {
		t.Fatalf("the tenant's user after deletion: %+v (%v)", users, err)
	}
	stop()
	if strings.Contains(strings.ToLower(log.String()), "forbidden") {
		t.Fatalf("the manager was refused something by its own RBAC:\n%s", log.String())
	}
	if !strings.Contains(log.String(), "Successfully acquired lease") {
		t.Fatalf("the manager did not take the leader lease:\n%s", log.String())
	}
}

// install creates what config/default installs for the manager's identity
// (its namespace, service account, roles and bindings) and, as there is no
// kubelet, a pod of its Deployment's template; it returns the pod.
func install(t *testing.T, k8s client.Client) *corev1.Pod {
	t.Helper()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join("config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	// The namespace first, then what lives in it.
	for _, kinds := range [][]string{{"Namespace"}, {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}} {
		for _, r := range res.Resources() {
			if !slices.Contains(kinds, r.GetKind()) {
				continue
			}
			m, err := r.Map()
			if err != nil {
				t.Fatal(err)
			}
			if err := k8s.Create(context.Background(), &unstructured.Unstructured{Object: m}); err != nil {
				t.Fatalf("creating %s %s: %v", r.GetKind(), r.GetName(), err)
			}
		}
	}
	dep := &appsv1.Deployment{}
	for _, r := range res.Resources() {
		if r.GetKind() == "Deployment" {
			y, err := r.AsYAML()
			if err != nil {
				t.Fatal(err)
			}
			if err := yaml.UnmarshalStrict(y, dep); err != nil {
				t.Fatal(err)
			}
		}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: dep.Name + "-0", Namespace: dep.Namespace, Labels: dep.Spec.Template.Labels},
		Spec:       dep.Spec.Template.Spec,
	}
	if err := k8s.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	return pod
}

// syncBuffer is a log that the manager writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
