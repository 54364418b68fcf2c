package controllers

import (
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/gateway/config"
	"qaas.dev/qaas/internal/credentialsdir"
	"qaas.dev/qaas/internal/kafkaconn"
)

var testSettings = Settings{
	AllowCustomHosts:   true,
	AllowImageOverride: true,
	GatewayImage:       "registry.example.com/qaas:1.0",
	IngressDomain:      "queue.example.com",
	IngressClassName:   "nginx",
	Kafka: KafkaConnection{Settings: kafkaconn.Settings{
		Brokers: []string{"k0:9093", "k1:9093"}, SASLMechanism: kafkaconn.ScramSHA512, Version: "3.7.1",
	}},
}

func testApp() *queuev1alpha1.QueueApp {
	return &queuev1alpha1.QueueApp{
		ObjectMeta: metav1.ObjectMeta{Name: "my-app", Namespace: "team-a"},
		Spec: queuev1alpha1.QueueAppSpec{
			Topics: []queuev1alpha1.TopicSpec{{Name: "orders", Partitions: 3}},
			Users: []queuev1alpha1.UserSpec{
				{Name: "admin", Role: queuev1alpha1.RoleReadWrite},
				{Name: "reader", Role: queuev1alpha1.RoleRead},
			},
		},
	}
}

func TestCredentialsSecretKeepsPasswords(t *testing.T) {
	n := 0
	generate := func() string { n++; return "generated-" + string(rune('0'+n)) }
	existing := &corev1.Secret{Data: map[string][]byte{
		credentialsdir.PasswordKey("admin"): []byte("kept"),
		credentialsdir.PasswordKey("gone"):  []byte("old"),
	}}
	cases := map[string]struct {
		app      func() *queuev1alpha1.QueueApp
		existing *corev1.Secret
		want     map[string]string
		absent   []string
	}{
		"a new Secret gets a password per user": {
			app: testApp,
			want: map[string]string{
				"admin.username": "team-a.my-app.admin", "reader.username": "team-a.my-app.reader",
				"url": "https://my-app.team-a.queue.example.com", "orders.topic": "team-a.my-app.orders",
			},
		},
		"existing passwords are kept, removed users dropped": {
			app: testApp, existing: existing,
			want:   map[string]string{"admin.password": "kept"},
			absent: []string{"gone.password", "gone.username"},
		},
		"no users means one admin": {
			app:  func() *queuev1alpha1.QueueApp { a := testApp(); a.Spec.Users = nil; return a },
			want: map[string]string{"admin.username": "team-a.my-app.admin"}, absent: []string{"reader.username"},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := buildCredentialsSecret(c.app(), testSettings, "https://my-app.team-a.queue.example.com", nil, c.existing, generate)
			for k, v := range c.want {
				if string(s.Data[k]) != v {
					t.Errorf("%s = %q, want %q", k, s.Data[k], v)
				}
			}
			for _, k := range c.absent {
				if _, ok := s.Data[k]; ok {
					t.Errorf("%s should not be there", k)
				}
			}
			for _, u := range usersOf(c.app()) {
				if len(s.Data[credentialsdir.PasswordKey(u.Name)]) == 0 {
					t.Errorf("user %s has no password", u.Name)
				}
			}
			if s.Name != "my-app-credentials" || s.Namespace != "team-a" {
				t.Errorf("secret %s/%s", s.Namespace, s.Name)
			}
		})
	}
	if p := newPassword(); len(p) < 26 || p == newPassword() {
		t.Errorf("passwords %q are weak or repeat", p)
	}
}

// The Deployment's arguments are flags the gateway defines: parsed with
// the gateway's own flag set, they give the operator's Kafka settings
// (its version included) back, the CA as the mounted Secret's file, and
// the ports the pod declares.
func TestGatewayArgsParseWithTheGatewaysFlags(t *testing.T) {
	settings := testSettings
	settings.Kafka.TLS = true
	settings.Kafka.CAFile = "/operator/ca.pem"
	settings.Kafka.CAPEM = []byte("ca")
	dep := buildDeployment(testApp(), settings, "hash")
	ctr := dep.Spec.Template.Spec.Containers[0]
	cfg, err := config.Parse(ctr.Args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatalf("the gateway refuses the operator's arguments %q: %v", ctr.Args, err)
	}
	wantKafka := settings.Kafka.Settings
	wantKafka.CAFile = credentialsMountPath + "/" + credentialsdir.KafkaCA
	if !reflect.DeepEqual(cfg.Kafka, wantKafka) {
		t.Errorf("the gateway would reach Kafka with %+v, want the operator's %+v", cfg.Kafka, wantKafka)
	}
	if cfg.CredentialsDir != credentialsMountPath || cfg.TLSCertFile != "" ||
		cfg.PeerTokenFile != credentialsMountPath+"/"+credentialsdir.PeerToken {
		t.Errorf("the gateway would run with %+v", cfg)
	}
	ports := map[string]int32{}
	for _, p := range ctr.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for name, addr := range map[string]string{"http": cfg.ListenAddress, "peer": cfg.PeerListenAddress} {
		if !strings.HasSuffix(addr, ":"+strconv.Itoa(int(ports[name]))) {
			t.Errorf("the gateway listens on %s, the pod declares its %s port %d", addr, name, ports[name])
		}
	}
}

// A QueueApp's queue settings reach its gateway as flags, and only those
// it sets: the others stay the broker's defaults.
func TestQueueSettingsReachTheGateway(t *testing.T) {
	cases := map[string]struct {
		queue        *queuev1alpha1.QueueSpec
		lock         time.Duration
		limit        int
		flagsWritten int
	}{
		"no queue settings leave the broker's defaults": {queue: nil},
		"an empty queue leaves them too":                {queue: &queuev1alpha1.QueueSpec{}},
		"a lock duration alone": {
			queue: &queuev1alpha1.QueueSpec{LockDuration: &metav1.Duration{Duration: 45 * time.Second}},
			lock:  45 * time.Second, flagsWritten: 1,
		},
		"both": {
			queue: &queuev1alpha1.QueueSpec{LockDuration: &metav1.Duration{Duration: 20 * time.Second}, DeliveryLimit: ptr.To[int32](3)},
			lock:  20 * time.Second, limit: 3, flagsWritten: 2,
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			app := testApp()
			app.Spec.Queue = c.queue
			args := buildDeployment(app, testSettings, "hash").Spec.Template.Spec.Containers[0].Args
			cfg, err := config.Parse(args, func(string) string { return "" }, io.Discard)
			if err != nil {
				t.Fatalf("the gateway refuses the operator's arguments %q: %v", args, err)
			}
			if cfg.QueueLockDuration != c.lock || cfg.QueueDeliveryLimit != c.limit {
				t.Errorf("the gateway would lock records for %s and deliver them %d times, want %s and %d", cfg.QueueLockDuration, cfg.QueueDeliveryLimit, c.lock, c.limit)
			}
			written := 0
			for _, a := range args {
				if strings.HasPrefix(a, "--queue-") {
					written++
				}
			}
			if written != c.flagsWritten {
				t.Errorf("%d --queue-* flags in %q, want %d", written, args, c.flagsWritten)
			}
		})
	}
}

func TestDeployment(t *testing.T) {
	custom := corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}
	noLimit := corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}
	cases := map[string]struct {
		edit      func(*queuev1alpha1.QueueApp)
		replicas  int32
		image     string
		resources corev1.ResourceRequirements
		// goMemLimit and goGC are the GOMEMLIMIT and GOGC the gateway
		// gets, "" for none.
		goMemLimit, goGC string
	}{
		"defaults": {edit: func(*queuev1alpha1.QueueApp) {}, replicas: 2, image: testSettings.GatewayImage, resources: defaultResources,
			goMemLimit: "241591860", goGC: "400"}, // 90% of 256Mi
		"overrides": {
			edit: func(a *queuev1alpha1.QueueApp) {
				a.Spec.Gateway = queuev1alpha1.GatewaySpec{Replicas: ptr.To[int32](5), Image: "mine:2", Resources: custom}
			},
			replicas: 5, image: "mine:2", resources: custom, goMemLimit: "966367620", goGC: "400", // 90% of 1Gi
		},
		"no memory limit": {
			edit: func(a *queuev1alpha1.QueueApp) {
				a.Spec.Gateway = queuev1alpha1.GatewaySpec{Resources: noLimit}
			},
			replicas: 2, image: testSettings.GatewayImage, resources: noLimit,
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			app := testApp()
			c.edit(app)
			dep := buildDeployment(app, testSettings, "abc")
			pod := dep.Spec.Template.Spec
			ctr := pod.Containers[0]
			if *dep.Spec.Replicas != c.replicas || ctr.Image != c.image || !equalResources(ctr.Resources, c.resources) {
				t.Fatalf("replicas %d image %s resources %v", *dep.Spec.Replicas, ctr.Image, ctr.Resources)
			}
			env := map[string]string{}
			for _, e := range ctr.Env {
				env[e.Name] = e.Value
			}
			if env["GOMEMLIMIT"] != c.goMemLimit || env["GOGC"] != c.goGC {
				t.Errorf("GOMEMLIMIT %q GOGC %q, want %q and %q", env["GOMEMLIMIT"], env["GOGC"], c.goMemLimit, c.goGC)
			}
			if dep.Spec.Template.Annotations[CredentialsHashAnnotation] != "abc" {
				t.Error("the pod template does not carry the credentials hash")
			}
			if ctr.LivenessProbe.HTTPGet.Path != "/healthz" || ctr.ReadinessProbe.HTTPGet.Path != "/readyz" {
				t.Error("probes are not on /healthz and /readyz")
			}
			if len(ctr.VolumeMounts) != 1 || !ctr.VolumeMounts[0].ReadOnly || pod.Volumes[0].Secret.SecretName != "my-app-credentials" {
				t.Error("the credentials are not mounted read-only")
			}
		})
	}
}

// A stopping gateway pod keeps serving while traffic moves away, then has
// the whole shutdown timeout to finish in-flight requests before the kubelet
// kills it.
func TestGatewayStopsGracefully(t *testing.T) {
	pod := buildDeployment(testApp(), testSettings, "h").Spec.Template.Spec
	ctr := pod.Containers[0]
	cfg, err := config.Parse(ctr.Args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if ctr.Lifecycle == nil || ctr.Lifecycle.PreStop == nil || ctr.Lifecycle.PreStop.Sleep == nil {
		t.Fatal("no pre-stop delay: the listener would close while requests are still routed to the pod")
	}
	delay := time.Duration(ctr.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	grace := time.Duration(ptr.Deref(pod.TerminationGracePeriodSeconds, 30)) * time.Second
	if delay < 2*time.Second || delay+cfg.ShutdownTimeout >= grace {
		t.Fatalf("pre-stop %s + shutdown timeout %s must fit in the termination grace period %s", delay, cfg.ShutdownTimeout, grace)
	}
}

func equalResources(a, b corev1.ResourceRequirements) bool {
	return a.Limits.Memory().Equal(*b.Limits.Memory()) && a.Requests.Cpu().Equal(*b.Requests.Cpu())
}

// The restricted Pod Security Standard, field by field.
func TestGatewayRunsRestricted(t *testing.T) {
	pod := buildDeployment(testApp(), testSettings, "h").Spec.Template.Spec
	sc := pod.Containers[0].SecurityContext
	checks := map[string]bool{
		"pod runs as non-root":          ptr.Deref(pod.SecurityContext.RunAsNonRoot, false),
		"pod seccomp RuntimeDefault":    pod.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault,
		"container runs as non-root":    ptr.Deref(sc.RunAsNonRoot, false),
		"no privilege escalation":       !ptr.Deref(sc.AllowPrivilegeEscalation, true),
		"read-only root filesystem":     ptr.Deref(sc.ReadOnlyRootFilesystem, false),
		"all capabilities dropped":      slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) && len(sc.Capabilities.Add) == 0,
		"not privileged":                !ptr.Deref(sc.Privileged, false),
		"no service account token":      !ptr.Deref(pod.AutomountServiceAccountToken, true),
		"credentials readable by group": ptr.Deref(pod.SecurityContext.FSGroup, 0) == gatewayUID,
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("%s: not so", name)
		}
	}
}

func TestServiceTargetsTheGateway(t *testing.T) {
	svc := buildService(testApp())
	if svc.Name != "my-app-gateway" || svc.Spec.Ports[0].Port != 80 || svc.Spec.Ports[0].TargetPort.StrVal != "http" ||
		svc.Spec.Selector["app.kubernetes.io/instance"] != "my-app" {
		t.Fatalf("service %+v", svc.Spec)
	}
}

func TestIngressTLSSources(t *testing.T) {
	withIssuer := testSettings
	withIssuer.DefaultIssuer = Issuer{Kind: "ClusterIssuer", Name: "letsencrypt"}
	cases := map[string]struct {
		tls         *queuev1alpha1.IngressTLS
		settings    Settings
		reason      string
		secret      string
		annotations map[string]string
	}{
		"none given, no default issuer: self-signed": {
			settings: testSettings, reason: TLSSelfSigned, secret: "my-app-selfsigned", annotations: nginxStreaming()},
		"none given, the operator's default issuer": {
			settings: withIssuer, reason: TLSFromCertManager, secret: "my-app-tls",
			annotations: nginxStreaming("cert-manager.io/cluster-issuer", "letsencrypt")},
		"an existing secret": {
			tls: &queuev1alpha1.IngressTLS{SecretName: "wildcard"}, settings: withIssuer, reason: TLSFromSecret, secret: "wildcard", annotations: nginxStreaming()},
		"a namespaced issuer": {
			tls:      &queuev1alpha1.IngressTLS{IssuerRef: &queuev1alpha1.IssuerReference{Kind: "Issuer", Name: "team-ca"}},
			settings: testSettings, reason: TLSFromCertManager, secret: "my-app-tls",
			annotations: nginxStreaming("cert-manager.io/issuer", "team-ca")},
		"a cluster issuer by default kind": {
			tls:      &queuev1alpha1.IngressTLS{IssuerRef: &queuev1alpha1.IssuerReference{Name: "acme"}},
			settings: testSettings, reason: TLSFromCertManager, secret: "my-app-tls",
			annotations: nginxStreaming("cert-manager.io/cluster-issuer", "acme")},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			app := testApp()
			app.Spec.Ingress.TLS = c.tls
			src := resolveTLS(app, c.settings)
			host, err := hostOf(app, c.settings)
			if err != nil {
				t.Fatal(err)
			}
			ing := buildIngress(app, c.settings, host, src)
			if src.reason != c.reason || ing.Spec.TLS[0].SecretName != c.secret || ing.Spec.TLS[0].Hosts[0] != "my-app.team-a.queue.example.com" {
				t.Fatalf("source %+v, ingress TLS %+v", src, ing.Spec.TLS)
			}
			if len(ing.Annotations) != len(c.annotations) {
				t.Fatalf("annotations %v, want %v", ing.Annotations, c.annotations)
			}
			for k, v := range c.annotations {
				if ing.Annotations[k] != v {
					t.Fatalf("annotations %v, want %v", ing.Annotations, c.annotations)
				}
			}
			if *ing.Spec.IngressClassName != "nginx" || ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name != "my-app-gateway" {
				t.Fatalf("ingress %+v", ing.Spec)
			}
		})
	}
}

// nginxStreaming is what an Ingress of class nginx is annotated with for
// consume streams, plus the given key and value pairs.
func nginxStreaming(pairs ...string) map[string]string {
	annotations := map[string]string{
		"nginx.ingress.kubernetes.io/proxy-buffering":    "off",
		"nginx.ingress.kubernetes.io/proxy-read-timeout": "120",
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		annotations[pairs[i]] = pairs[i+1]
	}
	return annotations
}

// An Ingress controller the operator knows gets the annotations that pass
// consume streams through at once and keep them open; one it does not
// know gets none.
func TestIngressStreamingAnnotations(t *testing.T) {
	cases := map[string]struct {
		className   string
		annotations map[string]string
	}{
		"ingress-nginx buffers and times out silent upstreams": {className: "nginx", annotations: nginxStreaming()},
		"Traefik streams event streams as they come":           {className: "traefik"},
		"an unknown class is left alone":                       {className: "haproxy"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			app := testApp()
			app.Spec.Ingress.ClassName = c.className
			ing := buildIngress(app, testSettings, "my-app.team-a.queue.example.com", resolveTLS(app, testSettings))
			if len(ing.Annotations) != len(c.annotations) {
				t.Fatalf("annotations %v, want %v", ing.Annotations, c.annotations)
			}
			for k, v := range c.annotations {
				if ing.Annotations[k] != v {
					t.Fatalf("annotations %v, want %v", ing.Annotations, c.annotations)
				}
			}
		})
	}
}

func TestHost(t *testing.T) {
	app := testApp()
	if h, _ := hostOf(app, testSettings); h != "my-app.team-a.queue.example.com" {
		t.Errorf("default host %s", h)
	}
	app.Spec.Ingress.Host = "q.example.org"
	if h, _ := hostOf(app, testSettings); h != "q.example.org" {
		t.Errorf("given host %s", h)
	}
	app.Spec.Ingress.Host = ""
	if _, err := hostOf(app, Settings{}); err == nil || !strings.Contains(err.Error(), "set spec.ingress.host") {
		t.Errorf("no host and no domain: %v", err)
	}
}

func TestSelfSignedCertificateIsKeptUntilItNoLongerFits(t *testing.T) {
	app := testApp()
	now := time.Now()
	first, err := buildSelfSignedSecret(app, "a.example.com", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if first.Type != corev1.SecretTypeTLS || !certificateFits(first.Data[corev1.TLSCertKey], "a.example.com", now) {
		t.Fatal("the certificate does not fit its host")
	}
	same, _ := buildSelfSignedSecret(app, "a.example.com", first, now)
	if string(same.Data[corev1.TLSCertKey]) != string(first.Data[corev1.TLSCertKey]) {
		t.Error("a fitting certificate was replaced")
	}
	otherHost, _ := buildSelfSignedSecret(app, "b.example.com", first, now)
	if string(otherHost.Data[corev1.TLSCertKey]) == string(first.Data[corev1.TLSCertKey]) {
		t.Error("a certificate for another host was kept")
	}
	expiring, _ := buildSelfSignedSecret(app, "a.example.com", first, now.Add(340*24*time.Hour))
	if string(expiring.Data[corev1.TLSCertKey]) == string(first.Data[corev1.TLSCertKey]) {
		t.Error("a certificate about to expire was kept")
	}
}

func TestPlatformPolicy(t *testing.T) {
	strict := testSettings
	strict.AllowCustomHosts, strict.AllowImageOverride = false, false
	noDomain := strict
	noDomain.IngressDomain = ""
	cases := map[string]struct {
		settings Settings
		edit     func(*queuev1alpha1.QueueApp)
		refused  string
	}{
		"the default host":                 {settings: strict, edit: func(*queuev1alpha1.QueueApp) {}},
		"a host in the namespace's domain": {settings: strict, edit: func(a *queuev1alpha1.QueueApp) { a.Spec.Ingress.Host = "api.team-a.queue.example.com" }},
		"another namespace's host": {settings: strict, edit: func(a *queuev1alpha1.QueueApp) { a.Spec.Ingress.Host = "victim.team-b.queue.example.com" },
			refused: "hosts must be within team-a.queue.example.com"},
		"a host that only ends like it": {settings: strict, edit: func(a *queuev1alpha1.QueueApp) { a.Spec.Ingress.Host = "eviltem-a.queue.example.com" },
			refused: "hosts must be within"},
		"a host elsewhere": {settings: strict, edit: func(a *queuev1alpha1.QueueApp) { a.Spec.Ingress.Host = "login.bank.example" },
			refused: "hosts must be within"},
		"any host without a domain": {settings: noDomain, edit: func(a *queuev1alpha1.QueueApp) { a.Spec.Ingress.Host = "q.example.org" },
			refused: "--allow-custom-hosts"},
		"custom hosts allowed": {settings: testSettings, edit: func(a *queuev1alpha1.QueueApp) { a.Spec.Ingress.Host = "login.bank.example" }},
		"an image of its own": {settings: strict, edit: func(a *queuev1alpha1.QueueApp) { a.Spec.Gateway.Image = "evil:1" },
			refused: "--allow-image-override"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			app := testApp()
			c.edit(app)
			host, err := hostOf(app, c.settings)
			if err == nil {
				err = checkPolicy(app, c.settings, host)
			}
			if (err == nil) != (c.refused == "") || (err != nil && !strings.Contains(err.Error(), c.refused)) {
				t.Fatalf("error %v, want refusal %q", err, c.refused)
			}
		})
	}
}
