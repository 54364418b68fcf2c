package controllers

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/gateway/config"
)

var ctx = context.Background()

// loadSample reads config/samples' QueueApp into namespace ns.
func loadSample(t *testing.T, ns string) *queuev1alpha1.QueueApp {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "config", "samples", "queue_v1alpha1_queueapp.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	app := &queuev1alpha1.QueueApp{}
	if err := yaml.UnmarshalStrict(b, app); err != nil {
		t.Fatal(err)
	}
	app.Namespace = ns
	return app
}

func get[T client.Object](t *testing.T, ns, name string, obj T) T {
	t.Helper()
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

// waitForRelease waits until a deleted QueueApp is gone.
func waitForRelease(t *testing.T, app *queuev1alpha1.QueueApp) {
	t.Helper()
	eventually(t, "the QueueApp is released", func() error {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(app), &queuev1alpha1.QueueApp{})
		if err == nil {
			return fmt.Errorf("still there")
		}
		return client.IgnoreNotFound(err)
	})
}

// edit changes an object with mutate, again on the latest version when the
// operator wrote it meanwhile, and returns it as written.
func edit[T client.Object](t *testing.T, ns, name string, obj T, mutate func(T)) T {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
			return err
		}
		mutate(obj)
		return k8s.Update(ctx, obj)
	})
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func createSample(t *testing.T) *queuev1alpha1.QueueApp {
	t.Helper()
	app := loadSample(t, newNamespace(t))
	if err := k8s.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	waitForChildren(t, app)
	return app
}

// waitForChildren waits until the status shows the current generation.
func waitForChildren(t *testing.T, app *queuev1alpha1.QueueApp) {
	t.Helper()
	eventually(t, "the QueueApp is reconciled", func() error {
		cur := &queuev1alpha1.QueueApp{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(app), cur); err != nil {
			return err
		}
		if cur.Status.ObservedGeneration != cur.Generation {
			return fmt.Errorf("observedGeneration %d, generation %d", cur.Status.ObservedGeneration, cur.Generation)
		}
		return nil
	})
}

func ownedBy(obj client.Object, app *queuev1alpha1.QueueApp) bool {
	return metav1.IsControlledBy(obj, app)
}

func TestSampleBecomesCredentialsDeploymentServiceAndIngress(t *testing.T) {
	app := createSample(t)
	ns := app.Namespace
	app = get(t, ns, app.Name, &queuev1alpha1.QueueApp{})

	creds := get(t, ns, "my-app-credentials", &corev1.Secret{})
	for key, want := range map[string]string{
		"url":             "https://my-app." + ns + ".queue.example.com",
		"admin.username":  ns + ".my-app.admin",
		"reader.username": ns + ".my-app.reader",
		"orders.topic":    ns + ".my-app.orders",
	} {
		if got := string(creds.Data[key]); got != want {
			t.Errorf("credentials %s = %q, want %q", key, got, want)
		}
	}
	if len(creds.Data["admin.password"]) < 26 || len(creds.Data["reader.password"]) < 26 || len(creds.Data["ca.crt"]) == 0 {
		t.Error("credentials lack passwords or the endpoint's CA")
	}

	dep := get(t, ns, "my-app-gateway", &appsv1.Deployment{})
	ctr := dep.Spec.Template.Spec.Containers[0]
	if *dep.Spec.Replicas != 2 || ctr.Image != testSettings.GatewayImage || dep.Spec.Template.Annotations[CredentialsHashAnnotation] != dataHash(creds.Data) {
		t.Errorf("deployment: replicas %d image %s annotations %v", *dep.Spec.Replicas, ctr.Image, dep.Spec.Template.Annotations)
	}
	if gw, err := config.Parse(ctr.Args, func(string) string { return "" }, io.Discard); err != nil ||
		gw.QueueLockDuration != 30*time.Second || gw.QueueDeliveryLimit != 5 {
		t.Errorf("the gateway's arguments %q do not carry the sample's queue settings (%v)", ctr.Args, err)
	}
	if !ptr.Deref(ctr.SecurityContext.ReadOnlyRootFilesystem, false) || dep.Spec.Template.Spec.Volumes[0].Secret.SecretName != "my-app-credentials" {
		t.Error("deployment lost its security context or credentials mount on the way through the API server")
	}
	svc := get(t, ns, "my-app-gateway", &corev1.Service{})
	if svc.Spec.Ports[0].Port != 80 {
		t.Errorf("service ports %+v", svc.Spec.Ports)
	}
	ing := get(t, ns, "my-app-gateway", &networkingv1.Ingress{})
	if ing.Spec.Rules[0].Host != "my-app."+ns+".queue.example.com" || ing.Spec.TLS[0].SecretName != "my-app-selfsigned" ||
		ptr.Deref(ing.Spec.IngressClassName, "") != "nginx" {
		t.Errorf("ingress %+v", ing.Spec)
	}
	if ing.Annotations["nginx.ingress.kubernetes.io/proxy-buffering"] != "off" {
		t.Errorf("ingress annotations %v, want ingress-nginx's for streaming", ing.Annotations)
	}
	cert := get(t, ns, "my-app-selfsigned", &corev1.Secret{})
	if cert.Type != corev1.SecretTypeTLS || !certificateFits(cert.Data["tls.crt"], "my-app."+ns+".queue.example.com", time.Now()) ||
		string(cert.Data["tls.crt"]) != string(creds.Data["ca.crt"]) {
		t.Error("the self-signed certificate does not fit the host or is not the credentials' ca.crt")
	}
	for _, child := range []client.Object{creds, dep, svc, ing, cert} {
		if !ownedBy(child, app) {
			t.Errorf("%T %s is not controlled by the QueueApp", child, child.GetName())
		}
	}

	st := app.Status
	if st.URL != "https://my-app."+ns+".queue.example.com" || st.CredentialsSecret != "my-app-credentials" ||
		st.ObservedGeneration != app.Generation || strings.Join(st.Topics, ",") != ns+".my-app.orders" {
		t.Errorf("status %+v", st)
	}
	tlsReady := meta.FindStatusCondition(st.Conditions, queuev1alpha1.ConditionTLSReady)
	if tlsReady == nil || tlsReady.Status != metav1.ConditionTrue || tlsReady.Reason != TLSSelfSigned || !strings.Contains(tlsReady.Message, "self-signed") {
		t.Errorf("TLSReady %+v", tlsReady)
	}
	for _, c := range st.Conditions {
		if c.ObservedGeneration != app.Generation {
			t.Errorf("condition %s is of generation %d", c.Type, c.ObservedGeneration)
		}
	}
	// envtest runs no Deployment controller: the gateway is not available.
	if isTrue(app, queuev1alpha1.ConditionGatewayReady) || isTrue(app, queuev1alpha1.ConditionReady) {
		t.Errorf("conditions %+v claim readiness without an available Deployment", st.Conditions)
	}
	if !slices.Contains(app.Finalizers, Finalizer) {
		t.Error("the finalizer is missing")
	}

	// The Deployment becoming available makes the QueueApp Ready.
	markGatewayServing(t, app)
	eventually(t, "Ready follows the gateway", func() error {
		cur := get(t, ns, app.Name, &queuev1alpha1.QueueApp{})
		ready := meta.FindStatusCondition(cur.Status.Conditions, queuev1alpha1.ConditionReady)
		if ready == nil || ready.Status != metav1.ConditionTrue || !strings.Contains(ready.Message, cur.Status.URL) {
			return fmt.Errorf("Ready is %+v", ready)
		}
		return nil
	})
}

func TestPasswordsSurviveEveryReconcile(t *testing.T) {
	app := createSample(t)
	ns := app.Namespace
	first := get(t, ns, "my-app-credentials", &corev1.Secret{}).Data
	for i := range 3 {
		cur := edit(t, ns, app.Name, &queuev1alpha1.QueueApp{}, func(cur *queuev1alpha1.QueueApp) {
			cur.Spec.Gateway.Replicas = ptr.To(int32(3 + i))
		})
		waitForChildren(t, cur)
	}
	now := get(t, ns, "my-app-credentials", &corev1.Secret{}).Data
	for _, key := range []string{"admin.password", "reader.password"} {
		if string(now[key]) != string(first[key]) {
			t.Errorf("%s changed across reconciles", key)
		}
	}
}

func TestChildrenEditedOrDeletedByHandArePutBack(t *testing.T) {
	app := createSample(t)
	ns := app.Namespace

	dep := get(t, ns, "my-app-gateway", &appsv1.Deployment{})
	if err := k8s.Delete(ctx, dep); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted Deployment comes back", func() error {
		cur := &appsv1.Deployment{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "my-app-gateway"}, cur); err != nil {
			return err
		}
		if cur.UID == dep.UID {
			return fmt.Errorf("still the old one")
		}
		return nil
	})

	edit(t, ns, "my-app-gateway", &corev1.Service{}, func(svc *corev1.Service) {
		svc.Spec.Ports[0].Port = 8081
	})
	edit(t, ns, "my-app-gateway", &networkingv1.Ingress{}, func(ing *networkingv1.Ingress) {
		ing.Spec.Rules[0].Host = "hijacked.example.com"
		// One of the operator's annotations edited, and one of the
		// user's own added.
		ing.Annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] = "60"
		ing.Annotations["example.com/owner"] = "team-a"
	})
	creds := edit(t, ns, "my-app-credentials", &corev1.Secret{}, func(creds *corev1.Secret) {
		creds.Data["url"] = []byte("https://elsewhere")
	})
	eventually(t, "edited children are put back", func() error {
		svc, ing, secret := &corev1.Service{}, &networkingv1.Ingress{}, &corev1.Secret{}
		for name, obj := range map[string]client.Object{"my-app-gateway": svc, "my-app-credentials": secret} {
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
				return err // a Service being recreated is briefly absent
			}
		}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "my-app-gateway"}, ing); err != nil {
			return err
		}
		if p := svc.Spec.Ports[0].Port; p != 80 || len(svc.Spec.Ports) != 1 {
			return fmt.Errorf("service ports %+v", svc.Spec.Ports)
		}
		if h := ing.Spec.Rules[0].Host; h != "my-app."+ns+".queue.example.com" {
			return fmt.Errorf("ingress host %s", h)
		}
		if a := ing.Annotations; a["nginx.ingress.kubernetes.io/proxy-read-timeout"] != "120" || a["example.com/owner"] != "team-a" {
			return fmt.Errorf("ingress annotations %v, want the operator's put back and the user's kept", a)
		}
		if u := string(secret.Data["url"]); u != "https://my-app."+ns+".queue.example.com" {
			return fmt.Errorf("url %s", u)
		}
		return nil
	})
	if string(get(t, ns, "my-app-credentials", &corev1.Secret{}).Data["admin.password"]) != string(creds.Data["admin.password"]) {
		t.Error("putting the Secret back changed a password")
	}
}

func TestSpecChangesReachTheChildren(t *testing.T) {
	app := createSample(t)
	ns := app.Namespace
	before := get(t, ns, "my-app-gateway", &appsv1.Deployment{}).Spec.Template.Annotations[CredentialsHashAnnotation]

	cur := edit(t, ns, app.Name, &queuev1alpha1.QueueApp{}, func(cur *queuev1alpha1.QueueApp) {
		cur.Spec.Gateway.Replicas = ptr.To[int32](4)
		cur.Spec.Users = []queuev1alpha1.UserSpec{{Name: "admin", Role: queuev1alpha1.RoleReadWrite}, {Name: "billing", Role: queuev1alpha1.RoleRead}}
		cur.Spec.Queue = &queuev1alpha1.QueueSpec{LockDuration: &metav1.Duration{Duration: 45 * time.Second}, DeliveryLimit: ptr.To[int32](3)}
	})
	waitForChildren(t, cur)
	dep := get(t, ns, "my-app-gateway", &appsv1.Deployment{})
	creds := get(t, ns, "my-app-credentials", &corev1.Secret{})
	if *dep.Spec.Replicas != 4 {
		t.Errorf("replicas %d, want 4", *dep.Spec.Replicas)
	}
	args := dep.Spec.Template.Spec.Containers[0].Args
	if gw, err := config.Parse(args, func(string) string { return "" }, io.Discard); err != nil ||
		gw.QueueLockDuration != 45*time.Second || gw.QueueDeliveryLimit != 3 {
		t.Errorf("the gateway's arguments %q do not carry the queue settings (%v)", args, err)
	}
	if string(creds.Data["billing.username"]) != ns+".my-app.billing" || len(creds.Data["billing.password"]) == 0 {
		t.Error("the new user has no credentials")
	}
	if _, ok := creds.Data["reader.password"]; ok {
		t.Error("the removed user's password is still there")
	}
	if after := dep.Spec.Template.Annotations[CredentialsHashAnnotation]; after == before || after != dataHash(creds.Data) {
		t.Error("the pod template does not follow the new credentials, so pods would not roll")
	}
}

func TestInvalidQueueAppsAreRefusedWithAMessage(t *testing.T) {
	ns := newNamespace(t)
	base := func(name string) *queuev1alpha1.QueueApp {
		return &queuev1alpha1.QueueApp{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: queuev1alpha1.QueueAppSpec{Ingress: queuev1alpha1.IngressSpec{Host: "q.example.com"}}}
	}
	cases := map[string]struct {
		app  *queuev1alpha1.QueueApp
		want string
	}{
		"a name with a dot": {base("my.app"), "metadata.name must be a DNS label"},
		"two TLS sources": {func() *queuev1alpha1.QueueApp {
			a := base("two-tls")
			a.Spec.Ingress.TLS = &queuev1alpha1.IngressTLS{SecretName: "s", IssuerRef: &queuev1alpha1.IssuerReference{Name: "i"}}
			return a
		}(), "needs exactly one of secretName"},
		"an empty TLS source": {func() *queuev1alpha1.QueueApp {
			a := base("no-tls")
			a.Spec.Ingress.TLS = &queuev1alpha1.IngressTLS{}
			return a
		}(), "needs exactly one of secretName"},
		"no partitions": {func() *queuev1alpha1.QueueApp {
			a := base("zero")
			a.Spec.Topics = []queuev1alpha1.TopicSpec{{Name: "t", Partitions: -1}}
			return a
		}(), "spec.topics[0].partitions"},
		"a topic name with a dot": {func() *queuev1alpha1.QueueApp {
			a := base("dotted")
			a.Spec.Topics = []queuev1alpha1.TopicSpec{{Name: "a.b"}}
			return a
		}(), "spec.topics[0].name"},
		"an unknown role": {func() *queuev1alpha1.QueueApp {
			a := base("role")
			a.Spec.Users = []queuev1alpha1.UserSpec{{Name: "u", Role: "admin"}}
			return a
		}(), `supported values: "read", "readwrite"`},
		"a lock duration under five seconds": {func() *queuev1alpha1.QueueApp {
			a := base("short-lock")
			a.Spec.Queue = &queuev1alpha1.QueueSpec{LockDuration: &metav1.Duration{Duration: 4 * time.Second}}
			return a
		}(), "queue.lockDuration must be between 5s and 10m"},
		"a lock duration over ten minutes": {func() *queuev1alpha1.QueueApp {
			a := base("long-lock")
			a.Spec.Queue = &queuev1alpha1.QueueSpec{LockDuration: &metav1.Duration{Duration: 11 * time.Minute}}
			return a
		}(), "queue.lockDuration must be between 5s and 10m"},
		"one delivery": {func() *queuev1alpha1.QueueApp {
			a := base("one-delivery")
			a.Spec.Queue = &queuev1alpha1.QueueSpec{DeliveryLimit: ptr.To[int32](1)}
			return a
		}(), "spec.queue.deliveryLimit"},
		"a user twice": {func() *queuev1alpha1.QueueApp {
			a := base("twice")
			a.Spec.Users = []queuev1alpha1.UserSpec{{Name: "u"}, {Name: "u"}}
			return a
		}(), "Duplicate value"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := k8s.Create(ctx, c.app)
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want Invalid mentioning %q", err, c.want)
			}
		})
	}
}

func TestDefaultsAreApplied(t *testing.T) {
	ns := newNamespace(t)
	app := &queuev1alpha1.QueueApp{ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: ns},
		Spec: queuev1alpha1.QueueAppSpec{
			Topics:  []queuev1alpha1.TopicSpec{{Name: "t"}},
			Users:   []queuev1alpha1.UserSpec{{Name: "u"}},
			Ingress: queuev1alpha1.IngressSpec{Host: "d.example.com", TLS: &queuev1alpha1.IngressTLS{IssuerRef: &queuev1alpha1.IssuerReference{Name: "le"}}},
		}}
	if err := k8s.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	got := get(t, ns, "defaults", &queuev1alpha1.QueueApp{})
	if got.Spec.Topics[0].Partitions != 3 || got.Spec.Users[0].Role != queuev1alpha1.RoleReadWrite ||
		ptr.Deref(got.Spec.Gateway.Replicas, 0) != 2 || got.Spec.DeletionPolicy != queuev1alpha1.DeletionRetain ||
		got.Spec.Ingress.TLS.IssuerRef.Kind != "ClusterIssuer" {
		t.Fatalf("defaults not applied: %+v", got.Spec)
	}
}

// A spec the operator cannot act on (here: an image of its own, which the
// platform does not allow) sets a condition and waits for an edit: no
// requeue, no write loop, no gateway.
func TestInvalidSpecSetsAConditionAndDoesNotLoop(t *testing.T) {
	ns := newNamespace(t)
	app := &queuev1alpha1.QueueApp{ObjectMeta: metav1.ObjectMeta{Name: "own-image", Namespace: ns},
		Spec: queuev1alpha1.QueueAppSpec{Gateway: queuev1alpha1.GatewaySpec{Image: "registry.example.com/mine:1"}}}
	if err := k8s.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	waitForCondition(t, app, queuev1alpha1.ConditionReady, metav1.ConditionFalse, "spec.gateway.image is refused")
	cur := get(t, ns, "own-image", &queuev1alpha1.QueueApp{})
	if c := meta.FindStatusCondition(cur.Status.Conditions, queuev1alpha1.ConditionReady); c.Reason != "InvalidSpec" || cur.Status.ObservedGeneration != cur.Generation {
		t.Fatalf("status %+v", cur.Status)
	}
	time.Sleep(2 * time.Second)
	if now := get(t, ns, "own-image", &queuev1alpha1.QueueApp{}).ResourceVersion; now != cur.ResourceVersion {
		t.Fatalf("the QueueApp keeps being written (%s then %s)", cur.ResourceVersion, now)
	}
	deps := &appsv1.DeploymentList{}
	if err := k8s.List(ctx, deps, client.InNamespace(ns)); err != nil || len(deps.Items) != 0 {
		t.Fatalf("an invalid QueueApp got a gateway (%v)", err)
	}

	// An edit that makes the spec valid is acted on.
	cur = edit(t, ns, "own-image", &queuev1alpha1.QueueApp{}, func(cur *queuev1alpha1.QueueApp) {
		cur.Spec.Gateway.Image = ""
	})
	waitForChildren(t, cur)
	get(t, ns, "own-image-gateway", &appsv1.Deployment{})
}

func TestDeletingAQueueAppReleasesIt(t *testing.T) {
	app := createSample(t)
	if err := k8s.Delete(ctx, get(t, app.Namespace, app.Name, &queuev1alpha1.QueueApp{})); err != nil {
		t.Fatal(err)
	}
	waitForRelease(t, app)
}

// kubectl explain, against the envtest server, shows the API's docs.
func TestKubectlExplainDescribesTheAPI(t *testing.T) {
	kubectl := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	kubeconfig := writeKubeconfig(t)
	explain := func(field string) string {
		out, err := exec.Command(kubectl, "--kubeconfig", kubeconfig, "explain", field).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl explain %s: %v: %s", field, err, out)
		}
		return string(out)
	}
	spec := explain("queueapp.spec")
	for _, want := range []string{"topics", "are the application's Kafka topics", "users", "deletionPolicy", "Retain keeps them"} {
		if !strings.Contains(spec, want) {
			t.Errorf("kubectl explain queueapp.spec lacks %q:\n%s", want, spec)
		}
	}
	if p := explain("queueapp.spec.topics.partitions"); !strings.Contains(p, "increased, never decreased") {
		t.Errorf("kubectl explain of partitions:\n%s", p)
	}
}

func writeKubeconfig(t *testing.T) string {
	t.Helper()
	user, err := testEnv.AddUser(envtest.User{Name: "explainer", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A TLS Secret of the tenant's own is served once it exists; until then
// TLSReady says what is missing.
func TestExistingTLSSecret(t *testing.T) {
	ns := newNamespace(t)
	app := &queuev1alpha1.QueueApp{ObjectMeta: metav1.ObjectMeta{Name: "own-tls", Namespace: ns},
		Spec: queuev1alpha1.QueueAppSpec{Ingress: queuev1alpha1.IngressSpec{Host: "own.example.com",
			TLS: &queuev1alpha1.IngressTLS{SecretName: "wildcard"}}}}
	if err := k8s.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	waitForCondition(t, app, queuev1alpha1.ConditionTLSReady, metav1.ConditionFalse, "TLS Secret wildcard does not exist")
	if ing := get(t, ns, "own-tls-gateway", &networkingv1.Ingress{}); ing.Spec.TLS[0].SecretName != "wildcard" {
		t.Fatalf("ingress TLS %+v", ing.Spec.TLS)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "own-tls-selfsigned"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a self-signed certificate was made although a Secret is named (%v)", err)
	}

	cert, err := buildSelfSignedSecret(app, "own.example.com", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	own := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "wildcard", Namespace: ns}, Type: corev1.SecretTypeTLS, Data: cert.Data}
	if err := k8s.Create(ctx, own); err != nil {
		t.Fatal(err)
	}
	// The operator looks again within a minute; an edit makes it now.
	edit(t, ns, "own-tls", &queuev1alpha1.QueueApp{}, func(cur *queuev1alpha1.QueueApp) {
		cur.Annotations = map[string]string{"touch": "1"}
	})
	c := waitForCondition(t, app, queuev1alpha1.ConditionTLSReady, metav1.ConditionTrue, "Secret wildcard")
	if c.Reason != TLSFromSecret {
		t.Errorf("TLSReady %+v", c)
	}
}
